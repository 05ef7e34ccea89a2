//! Proving that notes were not altered after signing: each signed version's content hash is
//! recomputed from the content and identifying fields stored now, and each signature is checked
//! against that recomputed hash with the published public key it names. A note changed in the
//! database behind the immutability trigger's back, a signature whose bytes were replaced, or a
//! signature naming a key nobody published, all show here.
//!
//! One piece of code for both doors: `indra notes verify` runs it as the database owner over
//! every organization, `GET /api/v1/notes/{id}/verification` in the caller's own transaction
//! (row-level security decides which notes it sees).

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;
use futures_util::TryStreamExt;
use indra_rules::clinical::note_signing::{
    NoteVersionIdentity, note_content_hash, signing_time_text, verify_note_signature,
};
use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Result;

/// A public key note signatures may name, as published in `indra_keys.signing_keys`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PublishedKey {
    pub key_id: String,
    /// Always `Ed25519`.
    pub algorithm: String,
    /// The 32 bytes of the Ed25519 public key.
    pub public_key: Vec<u8>,
    pub first_used_at: OffsetDateTime,
}

/// Every published key, oldest first.
pub async fn published_keys(conn: &mut PgConnection) -> Result<Vec<PublishedKey>> {
    Ok(sqlx::query_as(
        "select key_id, algorithm, public_key, first_used_at from indra_keys.signing_keys
          order by first_used_at, key_id",
    )
    .fetch_all(conn)
    .await?)
}

/// One version of a note as stored, with its signatures.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteVersionRecord {
    pub org_id: Uuid,
    pub id: Uuid,
    pub lineage_id: Uuid,
    pub version: i32,
    pub is_current: bool,
    /// `draft`, `signed`, `amended` or `addended`.
    pub status: String,
    pub patient_id: Uuid,
    pub encounter_id: Uuid,
    pub author_provider_id: Uuid,
    /// `SOAP`, `DAP` or `BIRP`.
    pub format: String,
    pub content: Value,
    /// `original`, `amendment` or `addendum`.
    pub change_kind: String,
    pub change_reason: Option<String>,
    pub addendum_text: Option<String>,
    pub previous_version_id: Option<Uuid>,
    pub content_hash: Option<Vec<u8>>,
    pub signed_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// In the order they were given.
    pub signatures: Vec<SignatureRecord>,
}

impl NoteVersionRecord {
    /// The fields the content hash covers besides the content.
    pub fn identity(&self) -> NoteVersionIdentity {
        NoteVersionIdentity {
            note_id: self.id.to_string(),
            lineage_id: self.lineage_id.to_string(),
            version: self.version,
            patient_id: self.patient_id.to_string(),
            encounter_id: self.encounter_id.to_string(),
            author_provider_id: self.author_provider_id.to_string(),
            format: self.format.clone(),
            addendum_text: self.addendum_text.clone(),
        }
    }

    /// The content hash this version's stored content and identity have now.
    pub fn recomputed_hash(&self) -> [u8; 32] {
        note_content_hash(&self.identity(), &self.content)
    }
}

/// One signature of a note version as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRecord {
    pub id: Uuid,
    pub signer_provider_id: Uuid,
    /// `author`, `supervisor` or `cosigner`.
    pub signature_type: String,
    pub content_hash: Vec<u8>,
    pub signature: Vec<u8>,
    pub signing_key_id: String,
    pub signed_at: OffsetDateTime,
}

/// What the stored content says about the version's signed hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashCheck {
    /// A draft: nothing was signed yet, nothing to prove.
    NotSigned,
    /// The content and identifying fields hash to the stored content hash.
    Intact,
    /// They do not: the note was altered after it was signed.
    Altered,
    /// A signed version without a content hash (the database refuses this; found only when
    /// someone went around it).
    Missing,
}

impl HashCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotSigned => "not_signed",
            Self::Intact => "intact",
            Self::Altered => "altered",
            Self::Missing => "missing",
        }
    }
}

/// What checking one signature found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// A valid Ed25519 signature, by a published key, over the content the note holds now.
    Valid,
    /// The signature names a key that is not published: nobody can check it.
    UnknownKey,
    /// The signature was made over another content hash than the note's content has now.
    OverOtherContent,
    /// The signature does not verify with the key it names: forged, or its bytes altered.
    Forged,
}

impl SignatureCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::UnknownKey => "unknown_key",
            Self::OverOtherContent => "over_other_content",
            Self::Forged => "forged",
        }
    }
}

/// The verdict on one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureReport {
    pub signature_id: Uuid,
    pub signer_provider_id: Uuid,
    pub signature_type: String,
    pub signed_at: OffsetDateTime,
    pub signing_key_id: String,
    pub check: SignatureCheck,
}

/// The verdict on one note version and its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionReport {
    pub org_id: Uuid,
    pub note_id: Uuid,
    pub lineage_id: Uuid,
    pub version: i32,
    pub status: String,
    pub stored_hash: Option<Vec<u8>>,
    pub recomputed_hash: [u8; 32],
    pub hash: HashCheck,
    /// A version that left draft without its author's signature (the database refuses this at
    /// commit; found only when a signature was removed behind its back).
    pub author_signature_missing: bool,
    pub signatures: Vec<SignatureReport>,
}

impl VersionReport {
    /// True when nothing is wrong with the version or any of its signatures.
    pub fn is_ok(&self) -> bool {
        self.problems().is_empty()
    }

    /// What is wrong, one sentence per problem (no note text, no names).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match self.hash {
            HashCheck::Altered => problems.push(
                "the content does not match its signed hash: altered after signing".to_owned(),
            ),
            HashCheck::Missing => problems.push("signed, but has no content hash".to_owned()),
            HashCheck::NotSigned | HashCheck::Intact => {}
        }
        if self.author_signature_missing {
            problems.push(format!("{}, but has no author signature", self.status));
        }
        for s in &self.signatures {
            let what = match s.check {
                SignatureCheck::Valid => continue,
                SignatureCheck::UnknownKey => {
                    format!("names key {}, which is not published", s.signing_key_id)
                }
                SignatureCheck::OverOtherContent => {
                    "was made over other content than the note holds now".to_owned()
                }
                SignatureCheck::Forged => format!(
                    "does not verify with the published key {}: forged or altered",
                    s.signing_key_id
                ),
            };
            problems.push(format!(
                "{} signature {} by provider {} {what}",
                s.signature_type, s.signature_id, s.signer_provider_id
            ));
        }
        problems
    }
}

/// The published keys by id, ready to verify with. A stored key that is not a valid Ed25519
/// point is left out (signatures naming it then show as naming an unknown key).
pub fn verifying_keys(keys: &[PublishedKey]) -> HashMap<String, VerifyingKey> {
    keys.iter()
        .filter_map(|k| {
            let bytes: [u8; 32] = k.public_key.as_slice().try_into().ok()?;
            Some((k.key_id.clone(), VerifyingKey::from_bytes(&bytes).ok()?))
        })
        .collect()
}

/// Checks one version: its hash, recomputed from what is stored now, and each signature
/// against that hash. No I/O.
pub fn check_note_version(
    record: &NoteVersionRecord,
    keys: &HashMap<String, VerifyingKey>,
) -> VersionReport {
    let recomputed = record.recomputed_hash();
    let signed = record.status != "draft";
    let hash = match (&record.content_hash, signed) {
        (_, false) => HashCheck::NotSigned,
        (None, true) => HashCheck::Missing,
        (Some(stored), true) if stored.as_slice() == recomputed => HashCheck::Intact,
        (Some(_), true) => HashCheck::Altered,
    };
    let signatures = record
        .signatures
        .iter()
        .map(|s| SignatureReport {
            signature_id: s.id,
            signer_provider_id: s.signer_provider_id,
            signature_type: s.signature_type.clone(),
            signed_at: s.signed_at,
            signing_key_id: s.signing_key_id.clone(),
            check: check_signature(s, &recomputed, keys),
        })
        .collect();
    VersionReport {
        org_id: record.org_id,
        note_id: record.id,
        lineage_id: record.lineage_id,
        version: record.version,
        status: record.status.clone(),
        stored_hash: record.content_hash.clone(),
        recomputed_hash: recomputed,
        hash,
        author_signature_missing: signed
            && !record
                .signatures
                .iter()
                .any(|s| s.signature_type == "author"),
        signatures,
    }
}

fn check_signature(
    signature: &SignatureRecord,
    recomputed: &[u8; 32],
    keys: &HashMap<String, VerifyingKey>,
) -> SignatureCheck {
    // The signature is checked over the hash of what the note holds now, not over the hash
    // stored beside it: whoever could rewrite the content could rewrite that hash too.
    if signature.content_hash.as_slice() != recomputed {
        return SignatureCheck::OverOtherContent;
    }
    let Some(key) = keys.get(&signature.signing_key_id) else {
        return SignatureCheck::UnknownKey;
    };
    let Ok(bytes) = <[u8; 64]>::try_from(signature.signature.as_slice()) else {
        return SignatureCheck::Forged;
    };
    if verify_note_signature(
        key,
        recomputed,
        &signature.signer_provider_id.to_string(),
        &signature.signature_type,
        &signing_time_text(signature.signed_at),
        &bytes,
    ) {
        SignatureCheck::Valid
    } else {
        SignatureCheck::Forged
    }
}

/// Every version with its signatures (as arrays, one element per signature, in signing order).
const VERSIONS_SQL: &str = "
select n.org_id, n.id, n.lineage_id, n.version, n.is_current, n.status::text as status, n.patient_id,
       n.encounter_id, n.author_provider_id, n.format::text as format, n.content,
       n.change_kind::text as change_kind, n.change_reason, n.addendum_text, n.previous_version_id,
       n.content_hash, n.signed_at, n.created_at,
       s.ids as signature_ids, s.signers, s.types, s.hashes, s.signatures, s.key_ids, s.times
  from clinical_notes n
  left join lateral (
      select array_agg(s.id order by s.signed_at, s.id) as ids,
             array_agg(s.signer_provider_id order by s.signed_at, s.id) as signers,
             array_agg(s.signature_type::text order by s.signed_at, s.id) as types,
             array_agg(s.content_hash order by s.signed_at, s.id) as hashes,
             array_agg(s.signature order by s.signed_at, s.id) as signatures,
             array_agg(s.signing_key_id order by s.signed_at, s.id) as key_ids,
             array_agg(s.signed_at order by s.signed_at, s.id) as times
        from note_signatures s
       where s.org_id = n.org_id and s.note_id = n.id
  ) s on true
 where $1::uuid is null
    or (n.org_id, n.lineage_id) in (select m.org_id, m.lineage_id from clinical_notes m where m.id = $1)
 order by n.org_id, n.lineage_id, n.version";

#[derive(sqlx::FromRow)]
struct VersionRow {
    org_id: Uuid,
    id: Uuid,
    lineage_id: Uuid,
    version: i32,
    is_current: bool,
    status: String,
    patient_id: Uuid,
    encounter_id: Uuid,
    author_provider_id: Uuid,
    format: String,
    content: Value,
    change_kind: String,
    change_reason: Option<String>,
    addendum_text: Option<String>,
    previous_version_id: Option<Uuid>,
    content_hash: Option<Vec<u8>>,
    signed_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
    signature_ids: Option<Vec<Uuid>>,
    signers: Option<Vec<Uuid>>,
    types: Option<Vec<String>>,
    hashes: Option<Vec<Vec<u8>>>,
    signatures: Option<Vec<Vec<u8>>>,
    key_ids: Option<Vec<String>>,
    times: Option<Vec<OffsetDateTime>>,
}

impl From<VersionRow> for NoteVersionRecord {
    fn from(row: VersionRow) -> Self {
        let signatures = row
            .signature_ids
            .unwrap_or_default()
            .into_iter()
            .zip(row.signers.unwrap_or_default())
            .zip(row.types.unwrap_or_default())
            .zip(row.hashes.unwrap_or_default())
            .zip(row.signatures.unwrap_or_default())
            .zip(row.key_ids.unwrap_or_default())
            .zip(row.times.unwrap_or_default())
            .map(
                |((((((id, signer), kind), hash), signature), key_id), at)| SignatureRecord {
                    id,
                    signer_provider_id: signer,
                    signature_type: kind,
                    content_hash: hash,
                    signature,
                    signing_key_id: key_id,
                    signed_at: at,
                },
            )
            .collect();
        Self {
            org_id: row.org_id,
            id: row.id,
            lineage_id: row.lineage_id,
            version: row.version,
            is_current: row.is_current,
            status: row.status,
            patient_id: row.patient_id,
            encounter_id: row.encounter_id,
            author_provider_id: row.author_provider_id,
            format: row.format,
            content: row.content,
            change_kind: row.change_kind,
            change_reason: row.change_reason,
            addendum_text: row.addendum_text,
            previous_version_id: row.previous_version_id,
            content_hash: row.content_hash,
            signed_at: row.signed_at,
            created_at: row.created_at,
            signatures,
        }
    }
}

/// Every version of the note `note_id` belongs to (any of its versions' ids), oldest first,
/// with their signatures. Empty when the connection's role cannot see the note.
pub async fn load_lineage(
    conn: &mut PgConnection,
    note_id: Uuid,
) -> Result<Vec<NoteVersionRecord>> {
    let rows: Vec<VersionRow> = sqlx::query_as(VERSIONS_SQL)
        .bind(note_id)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(NoteVersionRecord::from).collect())
}

/// What [`verify_notes`] went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerificationSummary {
    pub versions: u64,
    pub signatures: u64,
    /// Versions with at least one problem.
    pub failed_versions: u64,
    pub problems: u64,
}

impl VerificationSummary {
    pub fn is_ok(&self) -> bool {
        self.problems == 0
    }
}

/// Verifies every note version the connection can see (or only the lineage of `note`),
/// streaming: `on_version` gets each version's report as it is checked, so a large record is
/// never held in memory at once.
pub async fn verify_notes(
    conn: &mut PgConnection,
    note: Option<Uuid>,
    mut on_version: impl FnMut(&VersionReport),
) -> Result<VerificationSummary> {
    let keys = verifying_keys(&published_keys(conn).await?);
    let mut summary = VerificationSummary::default();
    let mut rows = sqlx::query_as::<_, VersionRow>(VERSIONS_SQL)
        .bind(note)
        .fetch(conn);
    while let Some(row) = rows.try_next().await? {
        let report = check_note_version(&NoteVersionRecord::from(row), &keys);
        let problems = report.problems().len() as u64;
        summary.versions += 1;
        summary.signatures += report.signatures.len() as u64;
        summary.problems += problems;
        summary.failed_versions += u64::from(problems > 0);
        on_version(&report);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use indra_rules::clinical::note_signing::sign_note;
    use serde_json::json;

    const KEY_ID: &str = "k1";

    fn signing_key() -> SigningKey {
        SigningKey::from_bytes(&[5u8; 32])
    }

    fn keys() -> HashMap<String, VerifyingKey> {
        HashMap::from([(KEY_ID.to_owned(), signing_key().verifying_key())])
    }

    /// A signed version with a valid author signature.
    fn signed_version() -> NoteVersionRecord {
        // 2026-11-25T10:00:00.123456Z
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_764_064_800_123_456_000).unwrap();
        let mut record = NoteVersionRecord {
            org_id: Uuid::from_u128(1),
            id: Uuid::from_u128(2),
            lineage_id: Uuid::from_u128(2),
            version: 1,
            is_current: true,
            status: "signed".into(),
            patient_id: Uuid::from_u128(3),
            encounter_id: Uuid::from_u128(4),
            author_provider_id: Uuid::from_u128(5),
            format: "DAP".into(),
            content: json!({"data": "d", "assessment": "a", "plan": "p"}),
            change_kind: "original".into(),
            change_reason: None,
            addendum_text: None,
            previous_version_id: None,
            content_hash: None,
            signed_at: Some(at),
            created_at: at,
            signatures: Vec::new(),
        };
        let hash = record.recomputed_hash();
        record.content_hash = Some(hash.to_vec());
        let signer = record.author_provider_id;
        record.signatures.push(SignatureRecord {
            id: Uuid::from_u128(6),
            signer_provider_id: signer,
            signature_type: "author".into(),
            content_hash: hash.to_vec(),
            signature: sign_note(
                &signing_key(),
                &hash,
                &signer.to_string(),
                "author",
                &signing_time_text(at),
            )
            .to_vec(),
            signing_key_id: KEY_ID.into(),
            signed_at: at,
        });
        record
    }

    #[test]
    fn an_untouched_signed_version_verifies() {
        let report = check_note_version(&signed_version(), &keys());
        assert_eq!(report.hash, HashCheck::Intact);
        assert_eq!(report.signatures[0].check, SignatureCheck::Valid);
        assert!(report.is_ok(), "{:?}", report.problems());
    }

    #[test]
    fn altered_content_breaks_the_hash_and_every_signature() {
        let mut record = signed_version();
        record.content["plan"] = json!("p, edited behind the trigger");
        let report = check_note_version(&record, &keys());
        assert_eq!(report.hash, HashCheck::Altered);
        assert_eq!(report.signatures[0].check, SignatureCheck::OverOtherContent);
        assert_eq!(report.problems().len(), 2);
    }

    #[test]
    fn a_rewritten_hash_does_not_help_a_forger() {
        // Content and both stored hashes rewritten consistently: only the signature tells.
        let mut record = signed_version();
        record.content["plan"] = json!("p2");
        let hash = record.recomputed_hash().to_vec();
        record.content_hash = Some(hash.clone());
        record.signatures[0].content_hash = hash;
        let report = check_note_version(&record, &keys());
        assert_eq!(report.hash, HashCheck::Intact);
        assert_eq!(report.signatures[0].check, SignatureCheck::Forged);
        assert!(!report.is_ok());
    }

    #[test]
    fn forged_bytes_unknown_keys_and_moved_times_are_caught() {
        let mut forged = signed_version();
        forged.signatures[0].signature[0] ^= 1;
        assert_eq!(
            check_note_version(&forged, &keys()).signatures[0].check,
            SignatureCheck::Forged
        );

        let mut moved = signed_version();
        moved.signatures[0].signed_at += time::Duration::microseconds(1);
        assert_eq!(
            check_note_version(&moved, &keys()).signatures[0].check,
            SignatureCheck::Forged
        );

        let mut unknown = signed_version();
        unknown.signatures[0].signing_key_id = "nobody".into();
        let report = check_note_version(&unknown, &keys());
        assert_eq!(report.signatures[0].check, SignatureCheck::UnknownKey);
        assert!(report.problems()[0].contains("not published"));
    }

    #[test]
    fn a_signed_version_needs_its_author_signature_and_a_draft_needs_nothing() {
        let mut unsigned = signed_version();
        unsigned.signatures.clear();
        assert!(check_note_version(&unsigned, &keys()).author_signature_missing);

        let mut draft = signed_version();
        draft.status = "draft".into();
        draft.signatures.clear();
        draft.content_hash = None;
        let report = check_note_version(&draft, &keys());
        assert_eq!(report.hash, HashCheck::NotSigned);
        assert!(report.is_ok());
    }
}
