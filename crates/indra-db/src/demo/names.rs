//! Fictitious practices and people for the demo. Every name here is invented; any likeness to a
//! real person or practice is chance.

/// A demo practice: name, e-mail domain label, time zone, city, state, ZIP.
pub struct Practice {
    pub name: &'static str,
    pub slug: &'static str,
    pub time_zone: &'static str,
    pub city: &'static str,
    pub state: &'static str,
    pub postal_code: &'static str,
}

pub const PRACTICES: &[Practice] = &[
    Practice {
        name: "Riverbend Counseling",
        slug: "riverbend",
        time_zone: "America/Chicago",
        city: "Austin",
        state: "TX",
        postal_code: "78701",
    },
    Practice {
        name: "Cedar Grove Behavioral Health",
        slug: "cedargrove",
        time_zone: "America/New_York",
        city: "Asheville",
        state: "NC",
        postal_code: "28801",
    },
    Practice {
        name: "Lakeside Therapy Collective",
        slug: "lakeside",
        time_zone: "America/Los_Angeles",
        city: "Sacramento",
        state: "CA",
        postal_code: "95814",
    },
    Practice {
        name: "Juniper Mind Clinic",
        slug: "juniper",
        time_zone: "America/Denver",
        city: "Boulder",
        state: "CO",
        postal_code: "80302",
    },
    Practice {
        name: "Harborview Family Therapy",
        slug: "harborview",
        time_zone: "America/New_York",
        city: "Portland",
        state: "ME",
        postal_code: "04101",
    },
    Practice {
        name: "Prairie Wellness Partners",
        slug: "prairie",
        time_zone: "America/Chicago",
        city: "Omaha",
        state: "NE",
        postal_code: "68102",
    },
];

pub const FIRST_NAMES: &[&str] = &[
    "Avery", "Blake", "Camila", "Dorian", "Elena", "Felix", "Greta", "Hollis", "Imani", "Jonah",
    "Keira", "Lionel", "Marisol", "Nico", "Odette", "Pascal", "Quinn", "Rosalind", "Soren",
    "Talia", "Ulric", "Vera", "Wesley", "Xiomara", "Yusuf", "Zelda", "Anselm", "Bettina", "Cormac",
    "Delphine", "Emrys", "Fiora",
];

pub const LAST_NAMES: &[&str] = &[
    "Ashdown",
    "Brightwater",
    "Calloway",
    "Dunmore",
    "Everly",
    "Fairbanks",
    "Galloway",
    "Hartwell",
    "Islington",
    "Jessup",
    "Kettering",
    "Larkspur",
    "Merriweather",
    "Northcott",
    "Oakhurst",
    "Pemberton",
    "Quill",
    "Ravensworth",
    "Stanwick",
    "Thistlewood",
    "Underhill",
    "Vantongeren",
    "Westbrook",
    "Yarborough",
    "Zellweger",
    "Ambrose",
    "Blackwood",
    "Crestfield",
    "Dewhurst",
    "Elsworth",
    "Foxley",
    "Greywell",
];

/// The demo clinicians of a practice: credentials, note format, NPI taxonomy, and whether they
/// practise under supervision (the third is supervised by the second).
pub struct ClinicianRole {
    pub credentials: &'static str,
    pub note_format: &'static str,
    pub taxonomy_code: &'static str,
    pub requires_supervision: bool,
    pub prescriber: bool,
}

pub const CLINICIANS: &[ClinicianRole] = &[
    ClinicianRole {
        credentials: "LCSW",
        note_format: "SOAP",
        taxonomy_code: "1041C0700X",
        requires_supervision: false,
        prescriber: false,
    },
    ClinicianRole {
        credentials: "PsyD",
        note_format: "DAP",
        taxonomy_code: "103T00000X",
        requires_supervision: false,
        prescriber: false,
    },
    ClinicianRole {
        credentials: "LPC-A",
        note_format: "BIRP",
        taxonomy_code: "101YP2500X",
        requires_supervision: true,
        prescriber: false,
    },
    ClinicianRole {
        credentials: "PMHNP-BC",
        note_format: "SOAP",
        taxonomy_code: "363LP0808X",
        requires_supervision: false,
        prescriber: true,
    },
];

/// Primary diagnoses handed out to demo patients in turn.
pub const PRIMARY_DIAGNOSES: &[&str] = &[
    "F41.1", "F32.1", "F43.23", "F33.1", "F43.10", "F90.0", "F41.0", "F43.22",
];

/// Themes that make demo notes read differently from one patient to the next.
pub const THEMES: &[(&str, &str)] = &[
    (
        "worry about work deadlines",
        "cognitive restructuring of catastrophic predictions",
    ),
    (
        "low mood and poor sleep",
        "behavioral activation scheduling",
    ),
    ("conflict with a partner", "communication skills rehearsal"),
    (
        "panic symptoms on public transit",
        "interoceptive exposure practice",
    ),
    (
        "intrusive memories after a car accident",
        "grounding and trauma-focused CBT",
    ),
    (
        "difficulty staying on task at school",
        "organization and planning strategies",
    ),
    (
        "grief after the loss of a parent",
        "grief processing and meaning-making",
    ),
    (
        "social anxiety at family gatherings",
        "graded exposure hierarchy",
    ),
];
