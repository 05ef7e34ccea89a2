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
