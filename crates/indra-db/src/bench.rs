//! The SQL side of `indra bench`: statements the benchmarks run against a scratch database.
//!
//! Nothing here is meant for a database holding real records: [`reset_patients`] truncates the
//! patients table, and [`set_patients_audit`] switches its audit trigger off. The `indra bench`
//! command only calls them on a database it has just created and will drop.

use anyhow::{Context, ensure};
use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgPool};
use uuid::Uuid;

/// Creates `count` organizations as the connected role (the owner), returning their ids.
///
/// Their own INSERTs are audited, which creates each organization's chain head: the measured
/// patient inserts then always take the steady-state path of `app.audit_row` (lock the existing
/// head, append, move it), never the first-row path.
pub async fn create_organizations(pool: &PgPool, count: u32) -> anyhow::Result<Vec<Uuid>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "insert into organizations (name)
         select 'Benchmark Practice ' || g from generate_series(1, $1) g
         returning id",
    )
    .bind(i64::from(count))
    .fetch_all(pool)
    .await?;
    ensure!(
        ids.len() == count as usize,
        "created {} organizations, wanted {count}",
        ids.len()
    );
    Ok(ids)
}

/// Enables or disables the audit trigger of `patients` (as the owner).
pub async fn set_patients_audit(pool: &PgPool, enabled: bool) -> anyhow::Result<()> {
    let sql = if enabled {
        "alter table patients enable trigger patients_audit"
    } else {
        "alter table patients disable trigger patients_audit"
    };
    sqlx::raw_sql(sql).execute(pool).await?;
    ensure!(
        patients_audit_enabled(pool).await? == enabled,
        "the patients_audit trigger did not change state"
    );
    Ok(())
}

/// Whether the audit trigger of `patients` fires.
pub async fn patients_audit_enabled(pool: &PgPool) -> anyhow::Result<bool> {
    let enabled: Option<bool> = sqlx::query_scalar(
        "select tgenabled <> 'D' from pg_trigger
          where tgrelid = 'public.patients'::regclass and tgname = 'patients_audit'",
    )
    .fetch_optional(pool)
    .await?;
    enabled.context("patients has no patients_audit trigger")
}

/// Puts the database back in the same state before each measured phase, so that phases differ
/// only in what they measure:
/// * `patients` (and the empty tables that reference it) is truncated, so every phase inserts
///   into an empty table and empty indexes, not into the previous phases' rows;
/// * `audit_chain_heads` is vacuumed: each audited insert leaves a dead version of its
///   organization's head row, and autovacuum may be off or late;
/// * a checkpoint is taken, so every phase starts with the same write-ahead-log state (the first
///   change to each page after a checkpoint logs the whole page) and no phase pays for flushing
///   an earlier phase's dirty pages.
///
/// The audit log itself is append-only and cannot be truncated: it grows across the audited
/// phases, as it does in production.
pub async fn reset_patients(pool: &PgPool) -> anyhow::Result<()> {
    // One statement per call: VACUUM cannot run inside the implicit transaction of a
    // multi-statement query.
    for sql in [
        "truncate patients cascade",
        "vacuum audit_chain_heads",
        "checkpoint",
    ] {
        sqlx::raw_sql(sql)
            .execute(pool)
            .await
            .with_context(|| format!("running {sql:?}"))?;
    }
    Ok(())
}

/// Rows in the audit log, read cheaply from the chain heads: each head's `last_seq` is the
/// length of its organization's chain.
pub async fn audit_rows(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("select coalesce(sum(last_seq), 0)::bigint from audit_chain_heads")
            .fetch_one(pool)
            .await?,
    )
}

/// Rows in `patients`.
pub async fn patient_rows(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("select count(*) from patients")
        .fetch_one(pool)
        .await?)
}

/// A patient row with every demographic field an intake form fills, so that the audit row
/// (which copies the whole new row as JSON and hashes it) is as large as a real one. Rows are
/// numbered `$3 .. $3 + $4 - 1`; the MRN is `$2` followed by the number, unique per writer.
const INSERT_PATIENTS_SQL: &str = "
insert into patients (org_id, mrn, first_name, last_name, date_of_birth, sex_at_birth, pronouns,
                      email, phone, address_line1, city, state, postal_code)
select $1, $2 || n,
       (array['Avery', 'Jordan', 'Riley', 'Morgan', 'Casey', 'Quinn', 'Harper', 'Rowan'])[1 + n % 8],
       (array['Okafor', 'Lindqvist', 'Tanaka', 'Moreau', 'Castillo', 'Novak', 'Haddad',
              'Brennan'])[1 + (n / 8) % 8],
       date '1950-01-01' + (n % 20000)::int,
       (array['female', 'male', 'intersex', 'unknown'])[1 + n % 4],
       (array['she/her', 'he/him', 'they/them', null])[1 + n % 4],
       'patient' || n || '@mail.example',
       '555-0' || lpad((n % 1000)::text, 3, '0'),
       (100 + n % 900) || ' Main Street',
       'Springfield', 'IL', '62701'
from generate_series($3::bigint, $3::bigint + $4::bigint - 1) n
";

/// Inserts `rows` patients into `org_id` in one transaction, the way an API request writes:
/// `begin; set local role service_role; insert ...; commit`. The rows are numbered from
/// `first`, with MRNs `<mrn_prefix><number>`.
///
/// One statement inserts all the rows; the audit trigger fires once per row either way.
pub async fn insert_patients(
    conn: &mut PgConnection,
    org_id: Uuid,
    mrn_prefix: &str,
    first: i64,
    rows: i64,
) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    sqlx::query("set local role service_role")
        .execute(&mut *tx)
        .await?;
    let inserted = sqlx::query(INSERT_PATIENTS_SQL)
        .bind(org_id)
        .bind(mrn_prefix)
        .bind(first)
        .bind(rows)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    ensure!(
        inserted == rows as u64,
        "inserted {inserted} patients, wanted {rows}"
    );
    tx.commit().await?;
    Ok(())
}

/// First names for generated patients, roughly by how common they are (most common first).
pub const SEARCH_FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Christopher",
    "Karen",
    "Charles",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Margaret",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Paul",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Timothy",
    "Stephanie",
    "Ronald",
    "Dorothy",
    "Jason",
    "Rebecca",
    "Edward",
    "Sharon",
    "Jeffrey",
    "Laura",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Amy",
    "Gary",
    "Kathleen",
    "Nicholas",
    "Angela",
    "Eric",
    "Shirley",
    "Jonathan",
    "Brenda",
    "Stephen",
    "Emma",
    "Larry",
    "Anna",
    "Justin",
    "Pamela",
    "Scott",
    "Nicole",
    "Brandon",
    "Samantha",
    "Benjamin",
    "Katherine",
    "Samuel",
    "Christine",
    "Gregory",
    "Helen",
    "Alexander",
    "Debra",
    "Patrick",
    "Rachel",
    "Frank",
    "Carolyn",
    "Raymond",
    "Janet",
    "Jack",
    "Maria",
    "Dennis",
    "Catherine",
    "Jerry",
    "Heather",
    "Tyler",
    "Diane",
    "Aaron",
    "Olivia",
    "Jose",
    "Julie",
    "Adam",
    "Joyce",
    "Nathan",
    "Victoria",
    "Henry",
    "Ruth",
    "Zachary",
    "Virginia",
    "Douglas",
    "Lauren",
    "Peter",
    "Kelly",
    "Kyle",
    "Christina",
    "Noah",
    "Joan",
    "Ethan",
    "Evelyn",
    "Jeremy",
    "Judith",
    "Walter",
    "Andrea",
    "Christian",
    "Hannah",
    "Keith",
    "Megan",
    "Roger",
    "Cheryl",
    "Terry",
    "Jacqueline",
    "Austin",
    "Martha",
    "Sean",
    "Madison",
    "Gerald",
    "Teresa",
    "Carl",
    "Gloria",
    "Harold",
    "Sara",
    "Dylan",
    "Janice",
    "Arthur",
    "Ann",
    "Lawrence",
    "Kathryn",
    "Jordan",
    "Abigail",
    "Jesse",
    "Sophia",
    "Bryan",
    "Frances",
    "Billy",
    "Jean",
    "Bruce",
    "Alice",
    "Gabriel",
    "Judy",
    "Logan",
    "Julia",
    "Alan",
    "Grace",
    "Juan",
    "Amber",
    "Albert",
    "Denise",
    "Willie",
    "Danielle",
    "Elijah",
    "Marilyn",
    "Wayne",
    "Beverly",
    "Randy",
    "Charlotte",
    "Vincent",
    "Natalie",
    "Mason",
    "Theresa",
    "Roy",
    "Diana",
    "Ralph",
    "Brittany",
    "Bobby",
    "Doris",
    "Russell",
    "Kayla",
    "Bradley",
    "Alexis",
    "Philip",
    "Lori",
    "Eugene",
    "Marie",
    "Marisol",
    "Imani",
    "Yusuf",
    "Xiomara",
    "Dorian",
    "Soren",
    "Priya",
    "Wei",
    "Thanh",
    "Aaliyah",
    "Mateo",
    "Santiago",
    "Fatima",
    "Omar",
    "Chiamaka",
    "Kenji",
];

/// Last names for generated patients, roughly by how common they are (most common first).
pub const SEARCH_LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jimenez",
    "Powell",
    "Jenkins",
    "Perry",
    "Russell",
    "Sullivan",
    "Bell",
    "Coleman",
    "Butler",
    "Henderson",
    "Barnes",
    "Gonzales",
    "Fisher",
    "Vasquez",
    "Simmons",
    "Romero",
    "Jordan",
    "Patterson",
    "Alexander",
    "Hamilton",
    "Graham",
    "Reynolds",
    "Griffin",
    "Wallace",
    "Moreno",
    "West",
    "Cole",
    "Hayes",
    "Bryant",
    "Herrera",
    "Gibson",
    "Ellis",
    "Tran",
    "Medina",
    "Aguilar",
    "Stevens",
    "Murray",
    "Ford",
    "Castro",
    "Marshall",
    "Owens",
    "Harrison",
    "Fernandez",
    "McDonald",
    "Woods",
    "Washington",
    "Kennedy",
    "Wells",
    "Vargas",
    "Henry",
    "Chen",
    "Freeman",
    "Webb",
    "Tucker",
    "Guzman",
    "Burns",
    "Crawford",
    "Olson",
    "Simpson",
    "Porter",
    "Hunter",
    "Gordon",
    "Mendez",
    "Silva",
    "Shaw",
    "Snyder",
    "Mason",
    "Dixon",
    "Munoz",
    "Hunt",
    "Hicks",
    "Holmes",
    "Palmer",
    "Wagner",
    "Black",
    "Robertson",
    "Boyd",
    "Rose",
    "Stone",
    "Salazar",
    "Fox",
    "Warren",
    "Mills",
    "Meyer",
    "Rice",
    "Schmidt",
    "Garza",
    "Daniels",
    "Ferguson",
    "Nichols",
    "Stephens",
    "Soto",
    "Weaver",
    "Ryan",
    "Gardner",
    "Payne",
    "Grant",
    "Dunn",
    "Kelley",
    "Spencer",
    "Hawkins",
    "Arnold",
    "Pierce",
    "Vazquez",
    "Hansen",
    "Peters",
    "Santos",
    "Hart",
    "Bradley",
    "Knight",
    "Elliott",
    "Cunningham",
    "Duncan",
    "Armstrong",
    "Hudson",
    "Carroll",
    "Lane",
    "Riley",
    "Andrews",
    "Alvarado",
    "Ray",
    "Delgado",
    "Berry",
    "Perkins",
    "Hoffman",
    "Johnston",
    "Matthews",
    "Pena",
    "Richards",
    "Contreras",
    "Willis",
    "Carpenter",
    "Lawrence",
    "Sandoval",
    "Kettering",
    "Lindqvist",
    "Okafor",
    "Haddad",
    "Novak",
    "Brennan",
    "Pemberton",
    "Thistlewood",
    "Vantongeren",
    "Ravensworth",
    "Merriweather",
    "Yarborough",
    "Abernathy",
    "Blackwood",
    "Fairbanks",
    "Hartwell",
    "Northcott",
    "Oyelaran",
    "Szymanski",
    "Takahashi",
    "Villanueva",
];

/// Inserts `count` patients into `org_id` in one statement, as the connected role (the owner),
/// with the audit trigger of `patients` off while it runs (a scratch or test database only), then
/// vacuums and analyzes the table. Names are drawn from [`SEARCH_FIRST_NAMES`] and
/// [`SEARCH_LAST_NAMES`], skewed towards the common ones like real names; dates of birth spread
/// over 1940-2019; MRNs are `<mrn_prefix><7 digits>`. Deterministic for a given count.
pub async fn load_search_patients(
    pool: &PgPool,
    org_id: Uuid,
    count: i64,
    mrn_prefix: &str,
) -> anyhow::Result<u64> {
    set_patients_audit(pool, false).await?;
    let inserted = sqlx::query(
        "insert into patients (org_id, mrn, first_name, last_name, date_of_birth, sex_at_birth, city, state, postal_code)
         select $1, $2 || lpad(n::text, 7, '0'),
                $3[1 + floor(cardinality($3) * power(((hashint8(n) & 65535)::float8 / 65536), 1.3))::int],
                $4[1 + floor(cardinality($4) * power(((hashint8(n * 31 + 7) & 65535)::float8 / 65536), 1.3))::int],
                date '1940-01-01' + ((hashint8(n * 13) & 2147483647) % 29200)::int,
                (array['female', 'male', 'intersex', 'unknown'])[1 + n % 4],
                'Springfield', 'IL', '62701'
           from generate_series(1, $5::bigint) n",
    )
    .bind(org_id)
    .bind(mrn_prefix)
    .bind(SEARCH_FIRST_NAMES)
    .bind(SEARCH_LAST_NAMES)
    .bind(count)
    .execute(pool)
    .await
    .context("inserting patients");
    // Re-enabled whatever happened, so the database is left as migrated.
    set_patients_audit(pool, true).await?;
    let inserted = inserted?.rows_affected();
    sqlx::raw_sql("vacuum analyze patients")
        .execute(pool)
        .await?;
    Ok(inserted)
}

/// A practice made for `indra bench patient-search`: its organization, its clinicians (users of
/// role provider, each with a provider record) and one insurance payer.
#[derive(Debug, Clone)]
pub struct BenchPractice {
    pub org_id: Uuid,
    /// The sign-in identity (users.auth_id) of the first clinician: the one the benchmark's
    /// requests run as.
    pub clinician_auth_id: Uuid,
    pub provider_ids: Vec<Uuid>,
    pub payer_id: Uuid,
}

/// Creates an organization with `clinicians` providers and one payer, as the owner, in one
/// transaction. Audited like any write (a few dozen rows).
pub async fn create_practice(
    pool: &PgPool,
    name: &str,
    clinicians: usize,
) -> anyhow::Result<BenchPractice> {
    ensure!(clinicians >= 1, "a practice needs a clinician");
    let mut tx = pool.begin().await?;
    let org_id: Uuid = sqlx::query_scalar(
        "insert into organizations (name, time_zone, city, state, postal_code)
         values ($1, 'America/New_York', 'Springfield', 'IL', '62701') returning id",
    )
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    // E-mail addresses are unique across the deployment: tag them with the organization.
    let tag = &org_id.simple().to_string()[..8];
    let mut clinician_auth_id = None;
    let mut provider_ids = Vec::with_capacity(clinicians);
    for n in 0..clinicians {
        let first = SEARCH_FIRST_NAMES[(n * 7 + 3) % SEARCH_FIRST_NAMES.len()];
        let last = SEARCH_LAST_NAMES[(n * 13 + 5) % SEARCH_LAST_NAMES.len()];
        let (user_id, auth_id): (Uuid, Uuid) = sqlx::query_as(
            "insert into users (org_id, email, full_name, role)
             values ($1, $2, $3, 'provider') returning id, auth_id",
        )
        .bind(org_id)
        .bind(format!("clinician{n}.{tag}@bench.example"))
        .bind(format!("{first} {last}"))
        .fetch_one(&mut *tx)
        .await?;
        let npi =
            indra_rules::platform::npi::npi_with_check_digit(&format!("1{:08}", 20_000_000 + n));
        let provider_id: Uuid = sqlx::query_scalar(
            "insert into providers (org_id, user_id, first_name, last_name, credentials, npi)
             values ($1, $2, $3, $4, $5, $6) returning id",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(first)
        .bind(last)
        .bind(["LCSW", "LPC", "PsyD", "LMFT"][n % 4])
        .bind(npi)
        .fetch_one(&mut *tx)
        .await?;
        clinician_auth_id.get_or_insert(auth_id);
        provider_ids.push(provider_id);
    }
    let payer_id: Uuid = sqlx::query_scalar(
        "insert into insurance_payers (org_id, name, payer_id, requires_prior_authorization)
         values ($1, 'Blue Harbor Health Plan', 'BHHP1', true) returning id",
    )
    .bind(org_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(BenchPractice {
        org_id,
        clinician_auth_id: clinician_auth_id.context("no clinician created")?,
        provider_ids,
        payer_id,
    })
}

/// The tables [`load_chart_records`] fills, whose audit triggers it switches off while it runs.
pub const CHART_TABLES: &[&str] = &[
    "patient_diagnoses",
    "medications",
    "appointments",
    "encounters",
    "clinical_notes",
    "note_signatures",
    "treatment_plans",
    "patient_insurance",
];

/// A provider's weekly slots in [`load_chart_records`]: 7 days of 12 hourly sessions.
pub const WEEKLY_SLOTS: i64 = 84;

/// Rows written by [`load_chart_records`], per table, in [`CHART_TABLES`] order.
pub type ChartRows = Vec<(&'static str, u64)>;

/// The chart of the first `patients` patients of `practice` (by MRN): what a behavioral-health
/// client under care has, so that each of the chart's queries finds rows to read:
/// * one to two active diagnoses (a primary one) and, for a third, a resolved one;
/// * one or two active medications and, for a quarter, a discontinued one;
/// * a weekly appointment series from four weeks ago to four weeks ahead with their clinician
///   (past ones completed, a few missed, the rest scheduled), without double-booking anyone;
/// * a completed encounter for each completed appointment, with a SOAP note, signed with its
///   author signature row, except the latest note of every third patient, left a draft;
/// * a current signed treatment plan whose problem is the primary diagnosis;
/// * primary coverage for five in six, half of them with a 20-session authorization.
///
/// Patient k sees clinician k % clinicians in weekly slot k / clinicians, so `practice` needs at
/// least `patients` / [`WEEKLY_SLOTS`] clinicians.
///
/// Everything is inserted with `insert ... select` in one transaction, as the owner, with the
/// audit triggers of [`CHART_TABLES`] disabled (`alter table ... disable trigger <t>_audit`) and
/// enabled again before commit: a scratch database only. The other triggers and every
/// constraint apply. Note signatures hold no real Ed25519 signature (64 zero bytes under the
/// key id `bench-unsigned`): nothing here verifies them, the chart only reads note statuses.
/// The tables are analyzed afterwards.
pub async fn load_chart_records(
    pool: &PgPool,
    practice: &BenchPractice,
    patients: i64,
) -> anyhow::Result<ChartRows> {
    let clinicians = practice.provider_ids.len() as i64;
    ensure!(
        patients <= clinicians * WEEKLY_SLOTS,
        "{patients} charts need at least {} clinicians",
        (patients + WEEKLY_SLOTS - 1) / WEEKLY_SLOTS
    );
    let mut tx = pool.begin().await?;
    for table in CHART_TABLES {
        sqlx::raw_sql(&format!(
            "alter table {table} disable trigger {table}_audit"
        ))
        .execute(&mut *tx)
        .await?;
    }
    // The patients with a chart, numbered k = 0, 1, ... with their clinician.
    sqlx::query(
        "create temporary table bench_chart on commit drop as
         select k, id, $2::uuid[] as clinicians, ($2::uuid[])[1 + k % cardinality($2::uuid[])] as provider_id,
                k / cardinality($2::uuid[]) as slot
           from (select row_number() over (order by mrn) - 1 as k, id
                   from patients where org_id = $1 order by mrn limit $3) p",
    )
    .bind(practice.org_id)
    .bind(&practice.provider_ids)
    .bind(patients)
    .execute(&mut *tx)
    .await?;

    let statements: [(&'static str, &str); 8] = [
        (
            "patient_diagnoses",
            "insert into patient_diagnoses (org_id, patient_id, icd10_code, status, is_primary, onset_date,
                                            diagnosed_on, resolved_on, diagnosed_by_provider_id)
             select $1, c.id, d.code, d.status::diagnosis_status, d.is_primary, d.onset, d.onset,
                    case when d.status = 'resolved' then d.onset + 90 end, c.provider_id
               from bench_chart c
              cross join lateral (values
                  ((array['F41.1', 'F33.1', 'F43.10', 'F32.1', 'F90.0', 'F43.22'])[1 + c.k % 6], 'active', true,
                   current_date - 200 - (c.k % 400)::int),
                  ((array['F41.0', 'F40.10', 'F42.2', 'F10.20'])[1 + c.k % 4], 'active', false,
                   current_date - 100 - (c.k % 90)::int),
                  ('F43.21', 'resolved', false, current_date - 900 - (c.k % 300)::int)
              ) d(code, status, is_primary, onset)
              where d.is_primary or (d.status = 'active' and c.k % 2 = 0) or (d.status = 'resolved' and c.k % 3 = 0)",
        ),
        (
            "medications",
            "insert into medications (org_id, patient_id, prescriber_provider_id, name, dose, route, frequency,
                                      status, started_on, ended_on, change_reason)
             select $1, c.id, c.provider_id, m.name, m.dose, 'oral', m.frequency, m.status::medication_status,
                    current_date - 150 - (c.k % 200)::int,
                    case when m.status = 'discontinued' then current_date - 20 end,
                    case when m.status = 'discontinued' then 'Daytime drowsiness' end
               from bench_chart c
              cross join lateral (values
                  ((array['Sertraline', 'Escitalopram', 'Bupropion XL', 'Fluoxetine'])[1 + c.k % 4],
                   (array['50 mg', '10 mg', '150 mg', '20 mg'])[1 + c.k % 4], 'once daily', 'active', true),
                  ('Trazodone', '50 mg', 'at bedtime as needed', 'active', c.k % 2 = 0),
                  ('Hydroxyzine', '25 mg', 'three times daily as needed', 'discontinued', c.k % 4 = 0)
              ) m(name, dose, frequency, status, wanted)
              where m.wanted",
        ),
        (
            "appointments",
            // Weeks -4 .. 3 from this week's Monday, the patient's slot: day slot / 12, hour
            // 8 + slot % 12, 50 minutes, in the organization's time zone.
            "insert into appointments (org_id, patient_id, provider_id, appointment_type, modality, starts_at,
                                       ends_at, status, location)
             select $1, c.id, c.provider_id, 'individual_therapy', s.modality::session_modality, s.starts_at,
                    s.starts_at + interval '50 minutes',
                    (case when s.starts_at >= now() then 'scheduled'
                          when (c.k + s.week) % 11 = 0 then 'no_show'
                          else 'completed' end)::appointment_status,
                    case when s.modality = 'video' then 'Video visit' else 'Office ' || (1 + c.k % 6) end
               from bench_chart c
              cross join generate_series(-4, 3) w(week)
              cross join lateral (
                  select w.week,
                         (date_trunc('week', now() at time zone o.time_zone)
                          + make_interval(days => w.week * 7 + (c.slot / 12)::int, hours => 8 + (c.slot % 12)::int))
                         at time zone o.time_zone as starts_at,
                         case when c.k % 5 = 0 then 'video' else 'in_person' end as modality
                    from organizations o where o.id = $1) s",
        ),
        (
            "encounters",
            "insert into encounters (org_id, patient_id, provider_id, appointment_id, encounter_type, modality, status,
                                     scheduled_start, started_at, ended_at, place_of_service)
             select a.org_id, a.patient_id, a.provider_id, a.id, a.appointment_type, a.modality, 'completed',
                    a.starts_at, a.starts_at + interval '2 minutes', a.starts_at + interval '52 minutes',
                    case when a.modality = 'video' then '10' else '11' end
               from appointments a join bench_chart c on c.id = a.patient_id
              where a.org_id = $1 and a.status = 'completed'",
        ),
        (
            "clinical_notes",
            "insert into clinical_notes (id, org_id, patient_id, encounter_id, author_provider_id, lineage_id,
                                         format, content, status, signed_at, content_hash)
             select n.id, n.org_id, n.patient_id, n.encounter_id, n.provider_id, n.id, 'SOAP', n.content,
                    (case when n.draft then 'draft' else 'signed' end)::note_status,
                    case when not n.draft then n.ended_at + interval '2 hours' end,
                    case when not n.draft then sha256(convert_to(n.content::text, 'UTF8')) end
               from (select gen_random_uuid() as id, e.org_id, e.patient_id, e.id as encounter_id, e.provider_id,
                            e.ended_at,
                            c.k % 3 = 0 and row_number() over (partition by e.patient_id order by e.started_at desc) = 1
                                as draft,
                            jsonb_build_object(
                                'subjective', 'Client reports ' || (array['worry most days', 'low mood and poor sleep',
                                    'intrusive memories', 'trouble focusing at work'])[1 + c.k % 4]
                                    || '; sleep about ' || (5 + c.k % 4) || ' hours a night.',
                                'objective', 'Alert and oriented, good eye contact, affect congruent. No SI/HI.',
                                'assessment', 'Symptoms improving with weekly psychotherapy; distress '
                                    || (3 + c.k % 6) || '/10.',
                                'plan', 'Continue weekly sessions; homework: daily mood log.') as content
                       from encounters e join bench_chart c on c.id = e.patient_id
                      where e.org_id = $1) n",
        ),
        (
            "note_signatures",
            "insert into note_signatures (org_id, note_id, signer_provider_id, signature_type, content_hash,
                                          signature, signing_key_id, signed_at)
             select n.org_id, n.id, n.author_provider_id, 'author', n.content_hash,
                    decode(repeat('00', 64), 'hex'), 'bench-unsigned', n.signed_at
               from clinical_notes n join bench_chart c on c.id = n.patient_id
              where n.org_id = $1 and n.status = 'signed'",
        ),
        (
            "treatment_plans",
            "insert into treatment_plans (id, org_id, patient_id, provider_id, lineage_id, content, effective_on,
                                          review_due_on, status, signed_at)
             select p.id, $1, p.patient_id, p.provider_id, p.id,
                    jsonb_build_object('problems', jsonb_build_array(jsonb_build_object(
                        'icd10_code', p.code, 'statement', 'Symptoms interfere with work and relationships.',
                        'goals', jsonb_build_array(jsonb_build_object(
                            'goal', 'Reduce symptom severity', 'measure', 'PHQ-9 or GAD-7 below 10',
                            'objectives', jsonb_build_array(jsonb_build_object(
                                'objective', 'Practise one coping skill daily',
                                'target_date', (p.effective_on + 60)::text)))),
                        'interventions', jsonb_build_array(jsonb_build_object(
                            'intervention', 'Cognitive behavioral therapy', 'frequency', 'weekly'))))),
                    p.effective_on, p.effective_on + 90, 'signed', p.effective_on + time '17:00'
               from (select gen_random_uuid() as id, c.id as patient_id, c.provider_id, d.icd10_code as code,
                            current_date - (c.k % 120)::int as effective_on
                       from bench_chart c
                       join patient_diagnoses d
                         on d.org_id = $1 and d.patient_id = c.id and d.is_primary and d.status = 'active') p",
        ),
        (
            "patient_insurance",
            "insert into patient_insurance (org_id, patient_id, insurance_payer_id, priority, member_id, group_number,
                                            effective_from, authorization_number, authorization_start,
                                            authorization_end, authorized_cpt_codes, authorized_sessions, sessions_used)
             select $1, c.id, $2, 'primary', 'M' || lpad(c.k::text, 9, '0'), 'G10042', current_date - 365,
                    case when auth then 'AUTH-' || c.k end,
                    case when auth then current_date - 60 end,
                    case when auth then current_date + 120 end,
                    case when auth then array['90832', '90834', '90837'] else '{}' end,
                    case when auth then 20 end,
                    case when auth then (c.k % 15)::int else 0 end
               from bench_chart c cross join lateral (select c.k % 2 = 0 as auth) a
              where c.k % 6 <> 5",
        ),
    ];
    let mut rows = Vec::with_capacity(statements.len());
    for (table, sql) in statements {
        let query = sqlx::query(sql).bind(practice.org_id);
        let query = if table == "patient_insurance" {
            query.bind(practice.payer_id)
        } else {
            query
        };
        let written = query
            .execute(&mut *tx)
            .await
            .with_context(|| format!("loading {table}"))?
            .rows_affected();
        rows.push((table, written));
    }
    // The deferred checks (a signed note has its author's signature) run now: a table with
    // pending trigger events cannot be altered.
    sqlx::raw_sql("set constraints all immediate")
        .execute(&mut *tx)
        .await
        .context("checking the chart records")?;
    for table in CHART_TABLES {
        sqlx::raw_sql(&format!("alter table {table} enable trigger {table}_audit"))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await.context("committing the chart records")?;
    for table in CHART_TABLES {
        sqlx::raw_sql(&format!("vacuum analyze {table}"))
            .execute(pool)
            .await?;
    }
    Ok(rows)
}

/// Audit triggers of [`CHART_TABLES`] and `patients` that do not fire: none once a load is done.
pub async fn disabled_audit_triggers(pool: &PgPool) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "select tgname::text from pg_trigger
          where tgname like '%\\_audit' and tgenabled = 'D' order by 1",
    )
    .fetch_all(pool)
    .await?)
}
