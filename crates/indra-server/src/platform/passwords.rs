//! Password hashing: argon2id with the crate's default (OWASP-recommended) parameters.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Passwords shorter than this are refused when set.
pub const MIN_PASSWORD_LENGTH: usize = 12;

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?
        .to_string())
}

/// True when `password` matches `hash`. A malformed hash matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// [`hash_password`] on the password threads (see [`on_password_thread`]).
pub async fn hash_password_off_thread(password: String) -> anyhow::Result<String> {
    on_password_thread(move || hash_password(&password)).await?
}

/// [`verify_password`] on the password threads (see [`on_password_thread`]).
pub async fn verify_password_off_thread(password: String, hash: String) -> anyhow::Result<bool> {
    on_password_thread(move || verify_password(&password, &hash)).await
}

type PasswordJob = Box<dyn FnOnce() + Send>;

/// Runs `work` on one of a few threads kept for argon2, one per core, and waits for it.
///
/// Why not tokio's blocking pool: every argon2 hash fills 19 MiB, and on the blocking pool a
/// burst of sign-ins runs each on a thread of its own, each of which keeps its own malloc arena
/// with the 19 MiB in it after the hash is done. 32 simultaneous sign-ins left the server at
/// 3 GB resident (`indra bench http`). On a fixed set of threads the memory stays at threads x
/// 19 MiB, and a burst of sign-ins queues here instead of taking every core from the requests
/// of people already signed in.
async fn on_password_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    static JOBS: OnceLock<Mutex<Sender<PasswordJob>>> = OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        let (sender, receiver) = channel::<PasswordJob>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        for i in 0..threads {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || run_password_jobs(&receiver));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password thread");
            }
        }
        Mutex::new(sender)
    });
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job: PasswordJob = Box::new(move || {
        // The asker may have gone (the request was cancelled); nothing to do then.
        let _ = reply.send(work());
    });
    jobs.lock()
        .map_err(|_| anyhow::anyhow!("the password threads' queue is poisoned"))?
        .send(job)
        .map_err(|_| anyhow::anyhow!("no password thread is running"))?;
    answer
        .await
        .map_err(|_| anyhow::anyhow!("a password thread stopped before answering"))
}

fn run_password_jobs(receiver: &Mutex<Receiver<PasswordJob>>) {
    loop {
        // Hold the lock only to take the next job, not while running it.
        let next = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match next {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_at_once_on_the_password_threads_each_get_their_own_answer() {
        let hash = hash_password_off_thread("correct horse battery".to_owned())
            .await
            .unwrap();
        let checks = (0..8).map(|i| {
            let hash = hash.clone();
            let password = if i % 2 == 0 {
                "correct horse battery"
            } else {
                "wrong horse battery"
            };
            tokio::spawn(verify_password_off_thread(password.to_owned(), hash))
        });
        let mut answers = Vec::new();
        for check in checks {
            answers.push(check.await.unwrap().unwrap());
        }
        assert_eq!(
            answers,
            [true, false, true, false, true, false, true, false],
            "each caller gets the answer to its own password"
        );
    }
}
