//! What a note signature proves, and how it is computed.
//!
//! A signed note version is identified by a SHA-256 content hash over the canonical JSON
//! (RFC 8785, JCS) of its content and the fields that say what it is (which note, version,
//! patient, encounter, author, format). A signature is Ed25519 over that hash together with the
//! signer, the signature type and the time, so a signature cannot be moved to another signer or
//! time. Anyone holding an export and the published public key can check both.

use ed25519_dalek::{Signature, Signer, Verifier};
/// The key types signing works with, so that callers need no crate of their own for them.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The fields of a note version that its content hash covers besides the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVersionIdentity {
    pub note_id: String,
    pub lineage_id: String,
    pub version: i32,
    pub patient_id: String,
    pub encounter_id: String,
    pub author_provider_id: String,
    /// "SOAP", "DAP" or "BIRP".
    pub format: String,
    /// The text an addendum adds, when the version is an addendum.
    pub addendum_text: Option<String>,
}

/// The canonical bytes a note version's hash is computed over.
pub fn canonical_note_bytes(identity: &NoteVersionIdentity, content: &Value) -> Vec<u8> {
    let document = json!({
        "addendum_text": identity.addendum_text,
        "author_provider_id": identity.author_provider_id,
        "content": content,
        "encounter_id": identity.encounter_id,
        "format": identity.format,
        "lineage_id": identity.lineage_id,
        "note_id": identity.note_id,
        "patient_id": identity.patient_id,
        "version": identity.version,
    });
    // JCS fails only on values JSON cannot carry (NaN, infinities), which a Value never holds.
    serde_jcs::to_vec(&document).expect("a serde_json::Value always has a canonical form")
}

/// The signing time as signatures carry it: RFC 3339 in UTC with exactly six fractional
/// digits (PostgreSQL keeps microseconds), e.g. `2026-11-25T15:04:05.123456Z`.
pub fn signing_time_text(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

/// SHA-256 over [`canonical_note_bytes`]: the note version's `content_hash`.
pub fn note_content_hash(identity: &NoteVersionIdentity, content: &Value) -> [u8; 32] {
    Sha256::digest(canonical_note_bytes(identity, content)).into()
}

/// The bytes an Ed25519 note signature signs: the content hash, the signer, the signature
/// type and the signing time (RFC 3339, UTC, microseconds), joined unambiguously.
pub fn signature_message(
    content_hash: &[u8; 32],
    signer_provider_id: &str,
    signature_type: &str,
    signed_at_rfc3339: &str,
) -> Vec<u8> {
    let mut message = b"indra-note-signature-v1\n".to_vec();
    message.extend_from_slice(hex::encode(content_hash).as_bytes());
    for part in [signer_provider_id, signature_type, signed_at_rfc3339] {
        message.push(b'\n');
        message.extend_from_slice(part.as_bytes());
    }
    message
}

/// Signs a note version's hash as `signer_provider_id`.
pub fn sign_note(
    key: &SigningKey,
    content_hash: &[u8; 32],
    signer_provider_id: &str,
    signature_type: &str,
    signed_at_rfc3339: &str,
) -> [u8; 64] {
    key.sign(&signature_message(
        content_hash,
        signer_provider_id,
        signature_type,
        signed_at_rfc3339,
    ))
    .to_bytes()
}

/// The id a public key is published under: the first 16 hex digits of SHA-256 of its 32
/// bytes. Derived from the key, so a key id can never name two different keys, and a rotated
/// key gets a new id by itself.
pub fn signing_key_id(public_key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(public_key.as_bytes())[..8])
}

/// True when `signature` is a valid signature by `key` over the note version's hash.
pub fn verify_note_signature(
    key: &VerifyingKey,
    content_hash: &[u8; 32],
    signer_provider_id: &str,
    signature_type: &str,
    signed_at_rfc3339: &str,
    signature: &[u8; 64],
) -> bool {
    key.verify(
        &signature_message(
            content_hash,
            signer_provider_id,
            signature_type,
            signed_at_rfc3339,
        ),
        &Signature::from_bytes(signature),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> NoteVersionIdentity {
        NoteVersionIdentity {
            note_id: "n1".into(),
            lineage_id: "n1".into(),
            version: 1,
            patient_id: "p1".into(),
            encounter_id: "e1".into(),
            author_provider_id: "a1".into(),
            format: "DAP".into(),
            addendum_text: None,
        }
    }

    #[test]
    fn key_ids_are_derived_from_the_public_key() {
        let a = SigningKey::from_bytes(&[1u8; 32]).verifying_key();
        let b = SigningKey::from_bytes(&[2u8; 32]).verifying_key();
        assert_eq!(signing_key_id(&a).len(), 16);
        assert_eq!(signing_key_id(&a), signing_key_id(&a));
        assert_ne!(signing_key_id(&a), signing_key_id(&b));
    }

    #[test]
    fn signing_time_has_six_fractional_digits_in_utc() {
        let at = time::macros::datetime!(2026-03-08 01:30:05.000042 -6);
        assert_eq!(signing_time_text(at), "2026-03-08T07:30:05.000042Z");
    }

    #[test]
    fn canonical_form_sorts_keys_and_ignores_input_order() {
        let a: Value = serde_json::from_str(r#"{"plan":"p","data":"d","assessment":"a"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"assessment":"a","data":"d","plan":"p"}"#).unwrap();
        assert_eq!(
            note_content_hash(&identity(), &a),
            note_content_hash(&identity(), &b)
        );
        let bytes = String::from_utf8(canonical_note_bytes(&identity(), &a)).unwrap();
        assert!(bytes.starts_with(r#"{"addendum_text":null,"author_provider_id":"a1","content":{"assessment":"a","data":"d","plan":"p"}"#), "{bytes}");
    }

    #[test]
    fn any_change_to_content_or_identity_changes_the_hash() {
        let content = json!({"data": "d", "assessment": "a", "plan": "p"});
        let base = note_content_hash(&identity(), &content);
        let edited = json!({"data": "d.", "assessment": "a", "plan": "p"});
        assert_ne!(base, note_content_hash(&identity(), &edited));
        let mut other_patient = identity();
        other_patient.patient_id = "p2".into();
        assert_ne!(base, note_content_hash(&other_patient, &content));
        let mut next_version = identity();
        next_version.version = 2;
        assert_ne!(base, note_content_hash(&next_version, &content));
    }

    #[test]
    fn a_signature_verifies_only_for_its_signer_type_and_time() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let hash = note_content_hash(
            &identity(),
            &json!({"data": "d", "assessment": "a", "plan": "p"}),
        );
        let at = "2026-11-25T10:00:00.000000Z";
        let signature = sign_note(&key, &hash, "a1", "author", at);
        let public = key.verifying_key();
        assert!(verify_note_signature(
            &public, &hash, "a1", "author", at, &signature
        ));
        assert!(!verify_note_signature(
            &public, &hash, "a2", "author", at, &signature
        ));
        assert!(!verify_note_signature(
            &public,
            &hash,
            "a1",
            "supervisor",
            at,
            &signature
        ));
        assert!(!verify_note_signature(
            &public,
            &hash,
            "a1",
            "author",
            "2026-11-25T10:00:01.000000Z",
            &signature
        ));
        let mut other_hash = hash;
        other_hash[0] ^= 1;
        assert!(!verify_note_signature(
            &public,
            &other_hash,
            "a1",
            "author",
            at,
            &signature
        ));
    }
}
