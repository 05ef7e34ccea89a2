//! The 837P professional claim, ASC X12 005010X222A1.
//!
//! One interchange (ISA..IEA) holds one functional group (GS..GE) holding one transaction set
//! (ST..SE). Inside, the hierarchy the implementation guide calls for: the billing provider
//! (loop 2000A, HL level 20), one subscriber per claim under it (2000B, level 22) and, when the
//! patient is not the policy holder, the patient under the subscriber (2000C, level 23). The
//! claim (2300) and its service lines (2400) hang from the lowest of those levels.
//!
//! Every value the claim supplies is checked before it is written: a `*` in a name would shift
//! every element after it and the payer would read the wrong member id, so such a claim is
//! refused with the claim number and the element named.

use time::PrimitiveDateTime;

use super::X12Error;
use super::segment_writer::{SegmentWriter, composite, invalid, optional, required};
use crate::billing::claim_document::{Address, ClaimDocument, ClaimLine, ClaimPerson};

/// The implementation guide this writer follows (GS08, ST03).
pub const IMPLEMENTATION_GUIDE: &str = "005010X222A1";

/// The interchange and submitter data around the claims: who sends, to whom, and the control
/// numbers the clearinghouse acknowledges (TA1 against ISA13, 999 against GS06 and ST02).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope837 {
    /// ISA13 / IEA02, 1..=999_999_999, written zero-padded to 9.
    pub interchange_control_number: u32,
    /// GS06 / GE02.
    pub group_control_number: u32,
    /// ST02 / SE02, written zero-padded to 4 or more digits.
    pub transaction_set_control_number: u32,
    /// ISA06 (ZZ qualifier) and GS02: the practice's submitter id at the clearinghouse.
    pub sender_id: String,
    /// ISA08 and GS03: the clearinghouse.
    pub receiver_id: String,
    /// Loop 1000A NM103.
    pub submitter_name: String,
    /// Loop 1000A PER02.
    pub submitter_contact_name: String,
    /// Loop 1000A PER04, digits only.
    pub submitter_contact_phone: String,
    /// Loop 1000B NM103.
    pub receiver_name: String,
    /// ISA09/10, GS04/05, BHT04/05.
    pub created_at: PrimitiveDateTime,
    /// ISA15: P (production) or T (test).
    pub production: bool,
    /// BHT03: the practice's reference for this batch.
    pub batch_reference: String,
}

const ENVELOPE: &str = "envelope";

/// Writes the claims as one 837P interchange.
///
/// All claims go under one billing provider (loop 2000A) — the one of the first claim — so every
/// claim must be billed by the same practice. Each claim gets its own subscriber loop, which the
/// guide allows and which keeps one claim's coverage from leaking into another's.
pub fn write_837p(envelope: &Envelope837, claims: &[ClaimDocument]) -> Result<String, X12Error> {
    let Some(first) = claims.first() else {
        return Err(X12Error::NoClaims);
    };
    let mut w = SegmentWriter::new();
    write_envelope_header(&mut w, envelope)?;

    // Loop 2000A: the billing provider, HL 1, the parent of every subscriber.
    let billing = &first.billing_provider;
    for claim in &claims[1..] {
        if claim.billing_provider != *billing {
            return Err(invalid(
                &claim.claim_number,
                "2010AA billing provider",
                "differs from the first claim's; one 837P carries one billing provider",
            ));
        }
    }
    w.segment(ENVELOPE, "HL", &["1", "", "20", "1"])?;
    write_billing_provider(&mut w, first)?;

    let mut next_hl = 2u32;
    for claim in claims {
        next_hl = write_claim(&mut w, claim, next_hl)?;
    }

    let count = w.transaction_count_with_se().to_string();
    let st02 = format!("{:04}", envelope.transaction_set_control_number);
    w.segment(ENVELOPE, "SE", &[&count, &st02])?;
    let gs06 = envelope.group_control_number.to_string();
    w.segment(ENVELOPE, "GE", &["1", &gs06])?;
    let isa13 = format!("{:09}", envelope.interchange_control_number);
    w.segment(ENVELOPE, "IEA", &["1", &isa13])?;
    Ok(w.finish())
}

fn write_envelope_header(w: &mut SegmentWriter, e: &Envelope837) -> Result<(), X12Error> {
    if !(1..=999_999_999).contains(&e.interchange_control_number) {
        return Err(invalid(
            ENVELOPE,
            "ISA13 interchange control number",
            "must be 1 to 999999999",
        ));
    }
    if !(1..=999_999_999).contains(&e.group_control_number) {
        return Err(invalid(
            ENVELOPE,
            "GS06 group control number",
            "must be 1 to 999999999",
        ));
    }
    if !(1..=999_999_999).contains(&e.transaction_set_control_number) {
        return Err(invalid(
            ENVELOPE,
            "ST02 transaction set control number",
            "must be 1 to 999999999",
        ));
    }
    let sender = required(ENVELOPE, "ISA06 sender id", &e.sender_id)?;
    let receiver = required(ENVELOPE, "ISA08 receiver id", &e.receiver_id)?;
    // ISA is fixed width: readers find the delimiters by position, so each element is padded.
    for (element, value) in [("ISA06 sender id", sender), ("ISA08 receiver id", receiver)] {
        if value.chars().count() > 15 {
            return Err(invalid(ENVELOPE, element, "is longer than 15 characters"));
        }
    }
    let at = e.created_at;
    let isa_date = format!(
        "{:02}{:02}{:02}",
        at.year().rem_euclid(100),
        u8::from(at.month()),
        at.day()
    );
    let gs_date = d8(at.date());
    let time = format!("{:02}{:02}", at.hour(), at.minute());
    let isa = format!(
        "ISA*00*{:10}*00*{:10}*ZZ*{sender:15}*ZZ*{receiver:15}*{isa_date}*{time}*^*00501*{:09}*0*{}*:",
        "",
        "",
        e.interchange_control_number,
        if e.production { "P" } else { "T" },
    );
    w.raw_segment(&isa);
    w.segment(
        ENVELOPE,
        "GS",
        &[
            "HC", // health care claim functional group
            sender,
            receiver,
            &gs_date,
            &time,
            &e.group_control_number.to_string(),
            "X",
            IMPLEMENTATION_GUIDE,
        ],
    )?;

    w.start_transaction();
    let st02 = format!("{:04}", e.transaction_set_control_number);
    w.segment(ENVELOPE, "ST", &["837", &st02, IMPLEMENTATION_GUIDE])?;
    let batch = required(ENVELOPE, "BHT03 batch reference", &e.batch_reference)?;
    // BHT01 0019 (information source, subscriber, dependent), BHT02 00 (original), BHT06 CH
    // (chargeable: a claim, not an encounter report).
    w.segment(
        ENVELOPE,
        "BHT",
        &["0019", "00", batch, &gs_date, &time, "CH"],
    )?;

    // Loop 1000A submitter: identified by the same id as in ISA06 (qualifier 46, ETIN).
    let submitter = required(ENVELOPE, "1000A NM103 submitter name", &e.submitter_name)?;
    w.segment(
        ENVELOPE,
        "NM1",
        &["41", "2", submitter, "", "", "", "", "46", sender],
    )?;
    let contact = required(
        ENVELOPE,
        "1000A PER02 contact name",
        &e.submitter_contact_name,
    )?;
    let phone = required(
        ENVELOPE,
        "1000A PER04 contact phone",
        &e.submitter_contact_phone,
    )?;
    if !phone.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            ENVELOPE,
            "1000A PER04 contact phone",
            "must be digits only",
        ));
    }
    w.segment(ENVELOPE, "PER", &["IC", contact, "TE", phone])?;

    // Loop 1000B receiver.
    let receiver_name = required(ENVELOPE, "1000B NM103 receiver name", &e.receiver_name)?;
    w.segment(
        ENVELOPE,
        "NM1",
        &["40", "2", receiver_name, "", "", "", "", "46", receiver],
    )?;
    Ok(())
}

/// Loop 2010AA: the practice, by type 2 NPI, address and EIN.
fn write_billing_provider(w: &mut SegmentWriter, claim: &ClaimDocument) -> Result<(), X12Error> {
    let c = claim.claim_number.as_str();
    let p = &claim.billing_provider;
    let name = required(
        c,
        "2010AA NM103 billing provider name",
        &p.organization_name,
    )?;
    let npi = npi(c, "2010AA NM109 billing provider NPI", p.npi.as_deref())?;
    w.segment(c, "NM1", &["85", "2", name, "", "", "", "", "XX", npi])?;
    // The guide forbids a PO box here (it goes to 2010AB), which only the practice can know;
    // the address must be present.
    write_address(w, c, "2010AA billing provider", &p.address, true)?;
    // The guide wants the billing provider's full ZIP+4: payers use it to find the pay-to site.
    if p.address
        .postal_code
        .as_deref()
        .map(|z| z.replace('-', "").trim().len())
        != Some(9)
    {
        return Err(invalid(
            c,
            "2010AA N403 billing provider postal code",
            "must be the 9-digit ZIP+4",
        ));
    }
    let tax_id = optional(
        c,
        "2010AA REF02 billing provider tax id",
        p.tax_id.as_deref(),
    )?
    .ok_or_else(|| invalid(c, "2010AA REF02 billing provider tax id", "is empty"))?
    .replace('-', "");
    if tax_id.len() != 9 || !tax_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            c,
            "2010AA REF02 billing provider tax id",
            "must be 9 digits (an EIN)",
        ));
    }
    w.segment(c, "REF", &["EI", &tax_id])?;
    Ok(())
}

/// Writes one claim: subscriber (2000B), payer (2010BB), patient (2000C) when a dependent, then
/// the claim (2300) and its lines (2400). Returns the next free HL number.
fn write_claim(w: &mut SegmentWriter, claim: &ClaimDocument, hl: u32) -> Result<u32, X12Error> {
    let c = claim.claim_number.as_str();
    required(c, "2300 CLM01 claim number", c)?;
    // CLM01 holds at most 38 characters; the 835 returns it in CLP01 to match the payment.
    if c.chars().count() > 38 {
        return Err(invalid(
            c,
            "2300 CLM01 claim number",
            "is longer than 38 characters",
        ));
    }
    let coverage = &claim.coverage;
    let patient_is_subscriber = coverage.subscriber.is_none();

    // Loop 2000B. HL04 says whether a patient HL (2000C) follows under this subscriber.
    let subscriber_hl = hl.to_string();
    w.segment(
        c,
        "HL",
        &[
            &subscriber_hl,
            "1",
            "22",
            if patient_is_subscriber { "0" } else { "1" },
        ],
    )?;
    let responsibility = match coverage.priority_rank {
        1 => "P",
        2 => "S",
        3 => "T",
        _ => {
            return Err(invalid(
                c,
                "2000B SBR01 payer responsibility",
                "must be primary, secondary or tertiary (rank 1 to 3)",
            ));
        }
    };
    let group = optional(
        c,
        "2000B SBR03 group number",
        coverage.group_number.as_deref(),
    )?;
    // SBR02 is 18 only when the subscriber is the patient; otherwise the relationship goes to
    // PAT01 in loop 2000C and SBR02 stays empty. SBR09 CI: commercial insurance.
    w.segment(
        c,
        "SBR",
        &[
            responsibility,
            if patient_is_subscriber { "18" } else { "" },
            group.unwrap_or(""),
            "",
            "",
            "",
            "",
            "",
            "CI",
        ],
    )?;

    // Loop 2010BA subscriber, identified by the member id (MI).
    let subscriber = claim.subscriber();
    let member_id = required(c, "2010BA NM109 member id", &coverage.member_id)?;
    write_person_name(w, c, "2010BA", "IL", subscriber, Some(member_id))?;
    // N3/N4 and DMG are required when the subscriber is the patient, situational otherwise; we
    // send them whenever we know them.
    write_address(
        w,
        c,
        "2010BA subscriber",
        &subscriber.address,
        patient_is_subscriber,
    )?;
    write_demographics(w, c, subscriber)?;

    // Loop 2010BB payer, identified by the payer id at the clearinghouse (PI).
    let payer_name = required(c, "2010BB NM103 payer name", &coverage.payer_name)?;
    let payer_id = required(c, "2010BB NM109 payer id", &coverage.payer_id)?;
    w.segment(
        c,
        "NM1",
        &["PR", "2", payer_name, "", "", "", "", "PI", payer_id],
    )?;
    write_address(w, c, "2010BB payer", &coverage.payer_address, false)?;

    let mut next = hl + 1;
    if !patient_is_subscriber {
        // Loop 2000C: the patient under their subscriber; PAT01 says how they are related.
        let patient_hl = next.to_string();
        next += 1;
        w.segment(c, "HL", &[&patient_hl, &subscriber_hl, "23", "0"])?;
        w.segment(c, "PAT", &[coverage.relationship.x12_code()])?;
        // Loop 2010CA: the patient has no member id of their own here (the guide forbids NM108/9).
        write_person_name(w, c, "2010CA", "QC", &claim.patient, None)?;
        write_address(w, c, "2010CA patient", &claim.patient.address, true)?;
        write_demographics(w, c, &claim.patient)?;
    }

    write_claim_information(w, claim)?;
    Ok(next)
}

/// Loop 2300 (CLM, REF*G1, HI), 2310B (rendering provider) and the 2400 lines.
fn write_claim_information(w: &mut SegmentWriter, claim: &ClaimDocument) -> Result<(), X12Error> {
    let c = claim.claim_number.as_str();
    if claim.lines.is_empty() {
        return Err(invalid(
            c,
            "2400 service lines",
            "are missing; a claim needs at least one",
        ));
    }
    if claim.lines.len() > 50 {
        return Err(invalid(
            c,
            "2400 service lines",
            "exceed the 50 an 837P claim may carry",
        ));
    }
    let total = claim.total_charge();
    let place = required(c, "2300 CLM05-1 place of service", &claim.place_of_service)?;
    // CLM05: place of service, B (the code is a place of service), frequency 1 (original claim).
    // CLM06 Y provider signature on file, CLM07 A assigned, CLM08 Y benefits assigned,
    // CLM09 Y release of information.
    w.segment(
        c,
        "CLM",
        &[
            c,
            &total.to_x12(),
            "",
            "",
            &composite(&[place, "B", "1"]),
            "Y",
            "A",
            "Y",
            "Y",
        ],
    )?;
    if let Some(auth) = optional(
        c,
        "2300 REF02 prior authorization",
        claim.prior_authorization_number.as_deref(),
    )? {
        w.segment(c, "REF", &["G1", auth])?;
    }

    // HI: the principal diagnosis as ABK, the others as ABF, ICD-10-CM without the dot.
    let mut diagnoses: Vec<_> = claim.diagnoses.iter().collect();
    diagnoses.sort_by_key(|d| d.sequence);
    if diagnoses.is_empty() {
        return Err(invalid(c, "2300 HI01 principal diagnosis", "is missing"));
    }
    if diagnoses.len() > 12 {
        return Err(invalid(
            c,
            "2300 HI diagnoses",
            "exceed the 12 an 837P claim may carry",
        ));
    }
    let mut hi = Vec::with_capacity(diagnoses.len());
    for (index, diagnosis) in diagnoses.iter().enumerate() {
        let element = format!("2300 HI{:02} diagnosis", index + 1);
        let code = required(c, &element, &diagnosis.icd10_code)?
            .replace('.', "")
            .to_uppercase();
        if code.len() < 3 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid(c, &element, "is not an ICD-10-CM code"));
        }
        let qualifier = if index == 0 { "ABK" } else { "ABF" };
        hi.push(composite(&[qualifier, &code]));
    }
    let hi_refs: Vec<&str> = hi.iter().map(String::as_str).collect();
    w.segment(c, "HI", &hi_refs)?;

    // Loop 2310B rendering provider: a person (entity type 1), by individual NPI.
    let r = &claim.rendering_provider;
    let last = required(c, "2310B NM103 rendering provider last name", &r.last_name)?;
    let first = required(
        c,
        "2310B NM104 rendering provider first name",
        &r.first_name,
    )?;
    let npi = npi(c, "2310B NM109 rendering provider NPI", Some(&r.npi))?;
    w.segment(c, "NM1", &["82", "1", last, first, "", "", "", "XX", npi])?;
    if let Some(taxonomy) = optional(
        c,
        "2310B PRV03 rendering provider taxonomy",
        r.taxonomy_code.as_deref(),
    )? {
        w.segment(c, "PRV", &["PE", "PXC", taxonomy])?;
    }

    for line in &claim.lines {
        write_service_line(w, claim, line, &diagnoses, place)?;
    }
    Ok(())
}

/// Loop 2400: LX, SV1, DTP*472 and REF*6R, the line control number an 835 SVC loop returns.
fn write_service_line(
    w: &mut SegmentWriter,
    claim: &ClaimDocument,
    line: &ClaimLine,
    diagnoses: &[&crate::billing::claim_document::ClaimDiagnosis],
    claim_place: &str,
) -> Result<(), X12Error> {
    let c = claim.claim_number.as_str();
    let n = line.line_number;
    w.segment(c, "LX", &[&n.to_string()])?;

    let code = required(
        c,
        &format!("2400 line {n} SV101-2 procedure code"),
        &line.cpt_code,
    )?;
    if line.modifiers.len() > 4 {
        return Err(invalid(
            c,
            &format!("2400 line {n} SV101 modifiers"),
            "exceed the 4 a line may carry",
        ));
    }
    let mut procedure = vec!["HC", code];
    for (index, modifier) in line.modifiers.iter().enumerate() {
        procedure.push(required(
            c,
            &format!("2400 line {n} SV101-{} modifier", index + 3),
            modifier,
        )?);
    }
    if line.units == 0 {
        return Err(invalid(
            c,
            &format!("2400 line {n} SV104 units"),
            "must be at least 1",
        ));
    }
    // SV105 is sent only when the line's place differs from the claim's CLM05-1.
    let place = required(
        c,
        &format!("2400 line {n} SV105 place of service"),
        &line.place_of_service,
    )?;
    let line_place = if place == claim_place { "" } else { place };

    // SV107: up to four pointers to the HI positions (1-based), most important first.
    if line.diagnosis_pointers.is_empty() || line.diagnosis_pointers.len() > 4 {
        return Err(invalid(
            c,
            &format!("2400 line {n} SV107 diagnosis pointers"),
            "must be 1 to 4",
        ));
    }
    let mut pointers = Vec::with_capacity(line.diagnosis_pointers.len());
    for sequence in &line.diagnosis_pointers {
        let position = diagnoses
            .iter()
            .position(|d| d.sequence == *sequence)
            .ok_or_else(|| {
                invalid(
                    c,
                    &format!("2400 line {n} SV107 diagnosis pointer"),
                    &format!("{sequence} points to no diagnosis on the claim"),
                )
            })?;
        pointers.push((position + 1).to_string());
    }
    let pointer_refs: Vec<&str> = pointers.iter().map(String::as_str).collect();

    w.segment(
        c,
        "SV1",
        &[
            &composite(&procedure),
            &line.charge.to_x12(),
            "UN",
            &line.units.to_string(),
            line_place,
            "",
            &composite(&pointer_refs),
        ],
    )?;
    w.segment(c, "DTP", &["472", "D8", &d8(line.service_date)])?;
    w.segment(c, "REF", &["6R", &format!("{c}-{n}")])?;
    Ok(())
}

/// NM1 for a person: last and first name, and the member id when this loop carries one.
fn write_person_name(
    w: &mut SegmentWriter,
    c: &str,
    loop_id: &str,
    entity: &str,
    person: &ClaimPerson,
    member_id: Option<&str>,
) -> Result<(), X12Error> {
    let last = required(c, &format!("{loop_id} NM103 last name"), &person.last_name)?;
    let first = required(
        c,
        &format!("{loop_id} NM104 first name"),
        &person.first_name,
    )?;
    match member_id {
        Some(id) => w.segment(c, "NM1", &[entity, "1", last, first, "", "", "", "MI", id]),
        None => w.segment(c, "NM1", &[entity, "1", last, first]),
    }
}

/// DMG: date of birth (D8) and sex.
fn write_demographics(
    w: &mut SegmentWriter,
    c: &str,
    person: &ClaimPerson,
) -> Result<(), X12Error> {
    w.segment(
        c,
        "DMG",
        &["D8", &d8(person.date_of_birth), person.sex.x12_code()],
    )
}

/// N3 and N4. When `must` is false an address without a street line is left out, as the guide
/// makes those loops' addresses situational.
fn write_address(
    w: &mut SegmentWriter,
    c: &str,
    whose: &str,
    address: &Address,
    must: bool,
) -> Result<(), X12Error> {
    let line1 = optional(
        c,
        &format!("{whose} N301 address"),
        address.line1.as_deref(),
    )?;
    let Some(line1) = line1 else {
        return if must {
            Err(invalid(c, &format!("{whose} N301 address"), "is empty"))
        } else {
            Ok(())
        };
    };
    let line2 = optional(
        c,
        &format!("{whose} N302 address"),
        address.line2.as_deref(),
    )?;
    w.segment(c, "N3", &[line1, line2.unwrap_or("")])?;
    let city = required(
        c,
        &format!("{whose} N401 city"),
        address.city.as_deref().unwrap_or(""),
    )?;
    let state = required(
        c,
        &format!("{whose} N402 state"),
        address.state.as_deref().unwrap_or(""),
    )?;
    let postal = required(
        c,
        &format!("{whose} N403 postal code"),
        address.postal_code.as_deref().unwrap_or(""),
    )?
    .replace('-', "");
    if !(postal.len() == 5 || postal.len() == 9) || !postal.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            c,
            &format!("{whose} N403 postal code"),
            "must be 5 or 9 digits",
        ));
    }
    w.segment(c, "N4", &[city, state, &postal])
}

/// A 10-digit NPI (its check digit is the scrubber's business).
fn npi<'v>(c: &str, element: &str, value: Option<&'v str>) -> Result<&'v str, X12Error> {
    let value = required(c, element, value.unwrap_or(""))?;
    if value.len() != 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(c, element, "must be 10 digits"));
    }
    Ok(value)
}

/// CCYYMMDD, the D8 date format.
fn d8(date: time::Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}
