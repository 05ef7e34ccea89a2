//! The CMS-1500 (02/12) paper claim as a PDF, for payers that still take paper.
//!
//! The red OCR form is laid out on a typewriter grid: ten characters to the inch and six lines to
//! the inch, 8.5 x 11 inches. Every datum here is placed by its grid line and column (line 1 at
//! the top, column 1 at the left, the positions billing systems have long used for the 02/12
//! form), printed in 10-point Courier spaced to exactly 10 characters per inch, so it lands in its
//! box when the PDF is printed at actual size on the pre-printed form. Payers' scanners read
//! upper case best, so data is printed in capitals.
//!
//! [`Cms1500Options::plain_paper`] also draws the boxes and their captions in black on the same
//! grid, so the page reads as a claim without the red form (for the practice's records, or a
//! payer that accepts a plain-paper image). Nothing is embedded: the text uses the PDF's standard
//! Helvetica and Courier, and the form is drawn with lines, never from an image.
//!
//! Choices, and why:
//!
//! - **Box 21 codes are printed without the period** ("F411" for F41.1): Medicare's instructions
//!   for item 21 treat the decimal as implied, and other payers' scanners accept codes either way.
//! - **Six lines a page.** A claim with more lines continues on further pages; each page is a
//!   complete form with its own lines and its own box 28 total, as payers handle continued paper
//!   claims, and says "PAGE k OF n" in the top margin.
//! - **Box 1** is Group Health Plan when the coverage has a group number, else Other; Indra keeps
//!   no Medicare/Medicaid program flag on the payer.
//! - **Boxes 10a-10c** (employment, auto accident, other accident) are marked No: Indra bills
//!   behavioral-health sessions and records no accident, as the 837P carries no related-causes
//!   code.
//! - **Box 26** carries the claim number, as the 837P's CLM01 does, so a remittance for the paper
//!   claim matches the same way.
//! - **Box 31's date** is the claim's last date of service: the rules have no clock, and the note
//!   was signed by then.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use time::Date;

use super::claim_document::{
    Address, Cents, ClaimDocument, ClaimLine, ClaimPerson, ClaimSex, SubscriberRelationship,
};

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cms1500Options {
    /// Draw the form's boxes and captions (for plain paper); otherwise print only the data, for
    /// the pre-printed red form.
    pub plain_paper: bool,
}

/// Box 24 holds six service lines.
pub const LINES_PER_PAGE: usize = 6;

/// How many pages a claim takes: one per six lines, at least one.
pub fn pages_for(claim: &ClaimDocument) -> usize {
    claim.lines.len().div_ceil(LINES_PER_PAGE).max(1)
}

/// Renders the claims, each on as many pages as its lines need, into one PDF.
pub fn render_cms1500(claims: &[ClaimDocument], options: &Cms1500Options) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let page_tree = Ref::new(2);
    let info = Ref::new(3);
    let fonts = [
        (HELVETICA, Ref::new(4), "Helvetica"),
        (COURIER, Ref::new(5), "Courier"),
        (HELVETICA_BOLD, Ref::new(6), "Helvetica-Bold"),
    ];
    let mut next_ref = 7;

    let mut pages = Vec::new();
    for claim in claims {
        let mut lines: Vec<&ClaimLine> = claim.lines.iter().collect();
        lines.sort_by_key(|line| line.line_number);
        let count = pages_for(claim);
        let chunks: Vec<&[&ClaimLine]> = if lines.is_empty() {
            vec![&[]]
        } else {
            lines.chunks(LINES_PER_PAGE).collect()
        };
        for (index, chunk) in chunks.into_iter().enumerate() {
            let mut sheet = Sheet::new();
            if options.plain_paper {
                sheet.draw_form();
            }
            sheet.fill(claim, chunk, index + 1, count);
            let page = Ref::new(next_ref);
            let content = Ref::new(next_ref + 1);
            next_ref += 2;
            pdf.stream(content, &sheet.content.finish());
            pages.push((page, content));
        }
    }

    pdf.catalog(catalog).pages(page_tree);
    pdf.pages(page_tree)
        .kids(pages.iter().map(|(page, _)| *page))
        .count(i32::try_from(pages.len()).unwrap_or(i32::MAX));
    for (page, content) in &pages {
        let mut writer = pdf.page(*page);
        writer
            .media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
            .parent(page_tree)
            .contents(*content);
        let mut resources = writer.resources();
        let mut font_map = resources.fonts();
        for (name, id, _) in fonts {
            font_map.pair(name, id);
        }
        font_map.finish();
        resources.finish();
        writer.finish();
    }
    for (_, id, base) in fonts {
        pdf.type1_font(id)
            .base_font(Name(base.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    // No names or numbers in the metadata: the file may be listed where its content may not.
    pdf.document_info(info)
        .title(TextStr("CMS-1500 (02/12) claims"))
        .producer(TextStr("Indra"));
    pdf.finish()
}

const PAGE_WIDTH: f32 = 612.0;
const PAGE_HEIGHT: f32 = 792.0;
/// Where column 1 begins and line 1's baseline sits, in points from the left and top edges: the
/// offsets at which the 02/12 grid meets the printed form at actual size.
const LEFT: f32 = 24.0;
const TOP: f32 = 18.0;
/// 10 characters and 6 lines to the inch.
const PITCH: f32 = 7.2;
const LEADING: f32 = 12.0;
/// 10-point Courier advances 6 points a character; 1.2 points of spacing make it 10 to the inch.
const DATA_SIZE: f32 = 10.0;
const DATA_SPACING: f32 = 1.2;
const CAPTION_SIZE: f32 = 5.5;

const HELVETICA: Name<'static> = Name(b"F1");
const COURIER: Name<'static> = Name(b"F2");
const HELVETICA_BOLD: Name<'static> = Name(b"F3");

/// Left edge of a grid column.
fn col_x(col: u16) -> f32 {
    LEFT + f32::from(col.saturating_sub(1)) * PITCH
}

/// The baseline of a grid line.
fn baseline(line: u16) -> f32 {
    PAGE_HEIGHT - (TOP + LEADING * f32::from(line))
}

/// The rule between a column and the one before it.
fn rule_x(col: u16) -> f32 {
    col_x(col) - 1.6
}

/// The rule above a grid line.
fn rule_y(line: u16) -> f32 {
    baseline(line) + 9.0
}

/// The grid line of each service line's data (the unshaded half of its row).
fn service_line_row(index: usize) -> u16 {
    44 + 2 * u16::try_from(index).unwrap_or(0)
}

struct Sheet {
    content: Content,
}

impl Sheet {
    fn new() -> Self {
        Self {
            content: Content::new(),
        }
    }

    /// Prints `text` at a grid position, in capitals, cut to `max` characters.
    fn data(&mut self, line: u16, col: u16, max: usize, text: &str) {
        let text: String = form_text(text).chars().take(max).collect();
        if text.trim().is_empty() {
            return;
        }
        self.content
            .begin_text()
            .set_font(COURIER, DATA_SIZE)
            .set_char_spacing(DATA_SPACING)
            .set_text_matrix([1.0, 0.0, 0.0, 1.0, col_x(col), baseline(line)])
            .show(Str(text.as_bytes()))
            .end_text();
    }

    fn mark(&mut self, line: u16, col: u16) {
        self.data(line, col, 1, "X");
    }

    fn date(&mut self, line: u16, cols: [u16; 3], date: Date, four_digit_year: bool) {
        let [month, day, year_at] = cols;
        self.data(line, month, 2, &format!("{:02}", u8::from(date.month())));
        self.data(line, day, 2, &format!("{:02}", date.day()));
        let year = if four_digit_year {
            format!("{:04}", date.year())
        } else {
            format!("{:02}", date.year().rem_euclid(100))
        };
        self.data(line, year_at, 4, &year);
    }

    fn text(&mut self, font: Name, size: f32, x: f32, y: f32, text: &str) {
        self.content
            .begin_text()
            .set_font(font, size)
            .set_char_spacing(0.0)
            .set_text_matrix([1.0, 0.0, 0.0, 1.0, x, y])
            .show(Str(form_ascii(text).as_bytes()))
            .end_text();
    }

    /// A caption in the top left corner of the box whose top rule is above `line`.
    fn caption(&mut self, line: u16, col: u16, text: &str) {
        self.text(
            HELVETICA,
            CAPTION_SIZE,
            rule_x(col) + 1.5,
            rule_y(line) - 6.0,
            text,
        );
    }

    /// A caption on a data line, just after the grid column (beside a checkbox).
    fn caption_at(&mut self, line: u16, col: u16, dx: f32, text: &str) {
        self.text(
            HELVETICA,
            CAPTION_SIZE,
            col_x(col) + dx,
            baseline(line),
            text,
        );
    }

    fn checkbox(&mut self, line: u16, col: u16) {
        self.content
            .rect(col_x(col) - 1.0, baseline(line) - 1.5, 8.0, 8.5)
            .stroke();
    }

    /// A box from the rule above `top` to the rule below `bottom`, columns `first` to `last`.
    fn frame(&mut self, top: u16, bottom: u16, first: u16, last: u16) {
        let (x0, x1) = (rule_x(first), rule_x(last + 1));
        let (y0, y1) = (rule_y(bottom + 1), rule_y(top));
        self.content.rect(x0, y0, x1 - x0, y1 - y0).stroke();
    }

    fn labelled(&mut self, top: u16, bottom: u16, first: u16, last: u16, caption: &str) {
        self.frame(top, bottom, first, last);
        self.caption(top, first, caption);
    }

    fn vertical(&mut self, col: u16, top: u16, bottom: u16) {
        self.content
            .move_to(rule_x(col), rule_y(top))
            .line_to(rule_x(col), rule_y(bottom + 1))
            .stroke();
    }

    /// The form's boxes and captions, drawn in black for plain paper.
    fn draw_form(&mut self) {
        self.content.set_line_width(0.5).set_stroke_gray(0.0);
        self.text(
            HELVETICA_BOLD,
            11.0,
            col_x(1),
            baseline(6),
            "HEALTH INSURANCE CLAIM FORM",
        );
        self.text(
            HELVETICA,
            CAPTION_SIZE,
            col_x(1),
            baseline(5),
            "APPROVED BY NATIONAL UNIFORM CLAIM COMMITTEE (NUCC) 02/12",
        );
        self.caption_at(1, 41, 0.0, "CARRIER: payer name and address");

        // Box 1 and 1a.
        self.labelled(7, 8, 1, 49, "1.");
        for (col, name) in [
            (1, "MEDICARE"),
            (8, "MEDICAID"),
            (15, "TRICARE"),
            (24, "CHAMPVA"),
            (31, "GROUP PLAN"),
            (39, "FECA"),
            (45, "OTHER"),
        ] {
            self.checkbox(8, col);
            self.caption_at(8, col, 8.5, name);
        }
        self.labelled(
            7,
            8,
            50,
            78,
            "1a. INSURED'S I.D. NUMBER (For Program in Item 1)",
        );

        // Patient and insured.
        self.labelled(
            9,
            10,
            1,
            29,
            "2. PATIENT'S NAME (Last Name, First Name, Middle Initial)",
        );
        self.labelled(9, 10, 30, 49, "3. PATIENT'S BIRTH DATE (MM DD YY)   SEX");
        for (col, name) in [(42, "M"), (47, "F")] {
            self.checkbox(10, col);
            self.caption_at(10, col, -4.0, name);
        }
        self.labelled(
            9,
            10,
            50,
            78,
            "4. INSURED'S NAME (Last Name, First Name, Middle Initial)",
        );
        self.labelled(11, 12, 1, 29, "5. PATIENT'S ADDRESS (No., Street)");
        self.labelled(11, 12, 30, 49, "6. PATIENT RELATIONSHIP TO INSURED");
        for (col, name) in [(33, "Self"), (38, "Spouse"), (42, "Child"), (47, "Other")] {
            self.checkbox(12, col);
            self.text(
                HELVETICA,
                CAPTION_SIZE - 0.5,
                col_x(col) - 1.0,
                rule_y(12) + 1.0,
                name,
            );
        }
        self.labelled(11, 12, 50, 78, "7. INSURED'S ADDRESS (No., Street)");
        self.labelled(13, 14, 1, 24, "CITY");
        self.labelled(13, 14, 25, 29, "STATE");
        self.labelled(13, 16, 30, 49, "8. RESERVED FOR NUCC USE");
        self.labelled(13, 14, 50, 72, "CITY");
        self.labelled(13, 14, 73, 78, "STATE");
        self.labelled(15, 16, 1, 13, "ZIP CODE");
        self.labelled(15, 16, 14, 29, "TELEPHONE (Include Area Code)");
        self.labelled(15, 16, 50, 63, "ZIP CODE");
        self.labelled(15, 16, 64, 78, "TELEPHONE (Include Area Code)");

        // Other insurance, condition, insured's policy.
        self.labelled(17, 18, 1, 29, "9. OTHER INSURED'S NAME");
        self.labelled(19, 20, 1, 29, "a. OTHER INSURED'S POLICY OR GROUP NUMBER");
        self.labelled(21, 22, 1, 29, "b. RESERVED FOR NUCC USE");
        self.labelled(23, 24, 1, 29, "c. RESERVED FOR NUCC USE");
        self.labelled(25, 26, 1, 29, "d. INSURANCE PLAN NAME OR PROGRAM NAME");
        self.labelled(17, 18, 30, 49, "10. IS PATIENT'S CONDITION RELATED TO:");
        for (line, caption) in [
            (19, "a. EMPLOYMENT? (Current or Previous)"),
            (21, "b. AUTO ACCIDENT?            PLACE (State)"),
            (23, "c. OTHER ACCIDENT?"),
        ] {
            self.labelled(line, line + 1, 30, 49, caption);
            for (col, name) in [(35, "YES"), (41, "NO")] {
                self.checkbox(line + 1, col);
                self.caption_at(line + 1, col, 8.5, name);
            }
        }
        self.labelled(25, 26, 30, 49, "10d. CLAIM CODES (Designated by NUCC)");
        self.labelled(17, 18, 50, 78, "11. INSURED'S POLICY GROUP OR FECA NUMBER");
        self.labelled(
            19,
            20,
            50,
            78,
            "a. INSURED'S DATE OF BIRTH (MM DD YY)   SEX",
        );
        for (col, name) in [(68, "M"), (75, "F")] {
            self.checkbox(20, col);
            self.caption_at(20, col, -4.0, name);
        }
        self.labelled(21, 22, 50, 78, "b. OTHER CLAIM ID (Designated by NUCC)");
        self.labelled(23, 24, 50, 78, "c. INSURANCE PLAN NAME OR PROGRAM NAME");
        self.labelled(
            25,
            26,
            50,
            78,
            "d. IS THERE ANOTHER HEALTH BENEFIT PLAN?   YES   NO",
        );

        // Signatures.
        self.labelled(
            27,
            30,
            1,
            49,
            "READ BACK OF FORM BEFORE COMPLETING & SIGNING THIS FORM.",
        );
        self.caption(28, 1, "12. PATIENT'S OR AUTHORIZED PERSON'S SIGNATURE");
        self.caption_at(29, 1, 0.0, "SIGNED");
        self.caption_at(29, 36, 0.0, "DATE");
        self.labelled(
            27,
            30,
            50,
            78,
            "13. INSURED'S OR AUTHORIZED PERSON'S SIGNATURE",
        );
        self.caption_at(29, 50, 0.0, "SIGNED");

        // Dates, referring provider, local use.
        self.labelled(
            31,
            32,
            1,
            29,
            "14. DATE OF CURRENT ILLNESS, INJURY, or PREGNANCY",
        );
        self.labelled(31, 32, 30, 49, "15. OTHER DATE   QUAL.");
        self.labelled(
            31,
            32,
            50,
            78,
            "16. DATES PATIENT UNABLE TO WORK IN CURRENT OCCUPATION",
        );
        self.labelled(
            33,
            34,
            1,
            29,
            "17. NAME OF REFERRING PROVIDER OR OTHER SOURCE",
        );
        self.labelled(33, 34, 30, 49, "17a.            17b. NPI");
        self.labelled(
            33,
            34,
            50,
            78,
            "18. HOSPITALIZATION DATES RELATED TO CURRENT SERVICES",
        );
        self.labelled(
            35,
            36,
            1,
            49,
            "19. ADDITIONAL CLAIM INFORMATION (Designated by NUCC)",
        );
        self.labelled(35, 36, 50, 78, "20. OUTSIDE LAB?        $ CHARGES");

        // Box 21-23.
        self.labelled(
            37,
            40,
            1,
            49,
            "21. DIAGNOSIS OR NATURE OF ILLNESS OR INJURY  Relate A-L to service line below \
             (24E)",
        );
        self.caption_at(37, 38, 0.0, "ICD Ind.");
        self.checkbox(37, 42);
        for (index, letter) in ('A'..='L').enumerate() {
            let (row, column) = diagnosis_cell(index);
            self.caption_at(row, column, -9.0, &format!("{letter}."));
        }
        self.labelled(37, 38, 50, 78, "22. RESUBMISSION CODE    ORIGINAL REF. NO.");
        self.labelled(39, 40, 50, 78, "23. PRIOR AUTHORIZATION NUMBER");

        // Box 24.
        self.frame(41, 54, 1, 78);
        self.caption(41, 1, "24. A.  DATE(S) OF SERVICE");
        self.caption(42, 1, "From MM DD YY");
        self.caption(42, 10, "To MM DD YY");
        for (col, top, bottom) in [
            (19, "B.", "POS"),
            (22, "C.", "EMG"),
            (25, "D. PROCEDURES, SERVICES", "CPT/HCPCS      MODIFIER"),
            (45, "E. DIAG.", "POINTER"),
            (50, "F. $ CHARGES", ""),
            (59, "G.", "UNITS"),
            (62, "H.", "EPSDT"),
            (65, "I. ID", "QUAL."),
            (68, "J. RENDERING", "PROVIDER ID. #"),
        ] {
            self.caption(41, col, top);
            self.caption(42, col, bottom);
        }
        for col in [10, 19, 22, 25, 33, 45, 50, 59, 62, 65, 68] {
            self.vertical(col, 41, 54);
        }
        for row in 0..LINES_PER_PAGE {
            let data = service_line_row(row);
            // The shaded half above each line is for supplemental information.
            self.content
                .set_fill_gray(0.9)
                .rect(
                    rule_x(1),
                    rule_y(data),
                    rule_x(65) - rule_x(1),
                    rule_y(data - 1) - rule_y(data),
                )
                .fill_nonzero()
                .set_fill_gray(0.0);
            self.content
                .move_to(rule_x(1), rule_y(data - 1))
                .line_to(rule_x(79), rule_y(data - 1))
                .stroke();
            self.content
                .move_to(rule_x(65), rule_y(data))
                .line_to(rule_x(79), rule_y(data))
                .stroke();
            for col in [36, 39, 42, 55] {
                self.vertical(col, data, data);
            }
            self.caption_at(data, 65, 0.0, "NPI");
            self.text(
                HELVETICA_BOLD,
                8.0,
                col_x(79) + 1.0,
                baseline(data),
                &(row + 1).to_string(),
            );
        }

        // Box 25-30.
        self.labelled(55, 56, 1, 21, "25. FEDERAL TAX I.D. NUMBER    SSN EIN");
        self.checkbox(56, 17);
        self.checkbox(56, 19);
        self.labelled(55, 56, 22, 36, "26. PATIENT'S ACCOUNT NO.");
        self.labelled(55, 56, 37, 49, "27. ACCEPT ASSIGNMENT?");
        for (col, name) in [(38, "YES"), (43, "NO")] {
            self.checkbox(56, col);
            self.caption_at(56, col, 8.5, name);
        }
        self.labelled(55, 56, 50, 60, "28. TOTAL CHARGE");
        self.vertical(57, 56, 56);
        self.labelled(55, 56, 61, 70, "29. AMOUNT PAID");
        self.vertical(67, 56, 56);
        self.labelled(55, 56, 71, 78, "30. Rsvd for NUCC Use");

        // Box 31-33.
        self.labelled(57, 61, 1, 21, "31. SIGNATURE OF PHYSICIAN OR SUPPLIER");
        self.caption(58, 1, "INCLUDING DEGREES OR CREDENTIALS");
        self.caption_at(61, 1, 0.0, "SIGNED");
        self.labelled(57, 61, 22, 48, "32. SERVICE FACILITY LOCATION INFORMATION");
        self.caption_at(61, 22, 0.0, "a.");
        self.caption_at(61, 35, 0.0, "b.");
        self.vertical(35, 61, 61);
        self.labelled(57, 61, 49, 78, "33. BILLING PROVIDER INFO & PH #   (     )");
        self.caption_at(61, 49, 0.0, "a.");
        self.caption_at(61, 62, 0.0, "b.");
        self.vertical(62, 61, 61);
        for (first, last) in [(22, 48), (49, 78)] {
            self.content
                .move_to(rule_x(first), rule_y(61))
                .line_to(rule_x(last + 1), rule_y(61))
                .stroke();
        }
        self.text(
            HELVETICA,
            CAPTION_SIZE,
            col_x(1),
            baseline(62) + 2.0,
            "FORM 1500 (02-12) LAYOUT ON PLAIN PAPER. PLEASE PRINT OR TYPE.",
        );
    }

    /// The claim's data for one page: everything but box 24 is repeated on every page.
    fn fill(&mut self, claim: &ClaimDocument, lines: &[&ClaimLine], page: usize, pages: usize) {
        let coverage = &claim.coverage;
        let patient = &claim.patient;
        let subscriber = claim.subscriber();

        self.data(1, 20, 20, &format!("PAGE {page} OF {pages}"));

        // Carrier block, top right.
        let mut carrier = vec![coverage.payer_name.clone()];
        carrier.extend(street_lines(&coverage.payer_address));
        carrier.push(city_state_zip(&coverage.payer_address));
        for (line, text) in (2..=5).zip(carrier.iter().filter(|t| !t.trim().is_empty())) {
            self.data(line, 41, 31, text);
        }

        // 1, 1a.
        let program_col = if coverage.group_number.as_deref().is_some_and(has_text) {
            31
        } else {
            45
        };
        self.mark(8, program_col);
        self.data(8, 50, 29, &coverage.member_id);

        // 2, 3, 4.
        self.data(10, 1, 28, &person_name(patient));
        self.date(10, [31, 34, 37], patient.date_of_birth, true);
        if let Some(col) = sex_col(patient.sex, 42, 47) {
            self.mark(10, col);
        }
        self.data(10, 50, 29, &person_name(subscriber));

        // 5, 6, 7.
        self.person_address(&patient.address, 1, [28, 24, 26, 12]);
        let relationship_col = match coverage.relationship {
            SubscriberRelationship::Myself => 33,
            SubscriberRelationship::Spouse => 38,
            SubscriberRelationship::Child => 42,
            SubscriberRelationship::Other => 47,
        };
        self.mark(12, relationship_col);
        self.person_address(&subscriber.address, 50, [29, 22, 74, 13]);

        // 10a-10c: not related to employment or an accident.
        for line in [20, 22, 24] {
            self.mark(line, 41);
        }

        // 11, 11a, 11c.
        if let Some(group) = &coverage.group_number {
            self.data(18, 50, 29, group);
        }
        self.date(20, [53, 56, 59], subscriber.date_of_birth, true);
        if let Some(col) = sex_col(subscriber.sex, 68, 75) {
            self.mark(20, col);
        }
        self.data(24, 50, 29, &coverage.payer_name);

        // 12, 13.
        self.data(29, 7, 20, "SIGNATURE ON FILE");
        self.data(29, 55, 20, "SIGNATURE ON FILE");

        // 21: ICD-10 indicator and the diagnoses in their A-L cells.
        self.data(37, 42, 1, "0");
        for diagnosis in &claim.diagnoses {
            if (1..=12).contains(&diagnosis.sequence) {
                let (row, col) = diagnosis_cell(usize::from(diagnosis.sequence - 1));
                self.data(row, col, 8, &box21_code(&diagnosis.icd10_code));
            }
        }

        // 23.
        let authorization = claim
            .prior_authorization_number
            .as_deref()
            .filter(|n| has_text(n))
            .or_else(|| {
                coverage
                    .authorization
                    .as_ref()
                    .and_then(|a| a.number.as_deref())
            });
        if let Some(number) = authorization {
            self.data(40, 50, 29, number);
        }

        // 24A-J.
        for (index, line) in lines.iter().enumerate() {
            let row = service_line_row(index);
            self.date(row, [1, 4, 7], line.service_date, false);
            self.date(row, [10, 13, 16], line.service_date, false);
            self.data(row, 19, 2, &line.place_of_service);
            self.data(row, 25, 6, &line.cpt_code);
            for (modifier, col) in line.modifiers.iter().zip([33, 36, 39, 42]) {
                self.data(row, col, 2, modifier);
            }
            let pointers: String = line
                .diagnosis_pointers
                .iter()
                .map(|&p| super::claim_document::diagnosis_letter(p))
                .collect();
            self.data(row, 45, 4, &pointers);
            self.data(row, 50, 8, &form_money(line.charge));
            self.data(row, 59, 3, &line.units.to_string());
            self.data(row, 68, 10, &claim.rendering_provider.npi);
        }

        // 25-28.
        if let Some(tax_id) = &claim.billing_provider.tax_id {
            let digits: String = tax_id.chars().filter(char::is_ascii_digit).collect();
            self.data(56, 1, 15, &digits);
            self.mark(56, 19);
        }
        self.data(56, 23, 14, &claim.claim_number);
        self.mark(56, 38);
        let page_total: Cents = lines.iter().map(|line| line.charge).sum();
        self.data(56, 52, 8, &form_money(page_total));

        // 31.
        self.data(60, 1, 20, &signer(claim));
        if let Some((_, last)) = claim.service_dates() {
            self.date(61, [6, 9, 12], last, false);
        }

        // 32: the practice's location; 33: the billing provider.
        let billing = &claim.billing_provider;
        for (col, max) in [(23, 26), (50, 29)] {
            self.data(58, col, max, &billing.organization_name);
            let street = street_lines(&billing.address).join(" ");
            self.data(59, col, max, &street);
            self.data(60, col, max, &city_state_zip(&billing.address));
            if let Some(npi) = &billing.npi {
                self.data(61, col, 10, npi);
            }
        }
        if let Some(phone) = &billing.phone {
            let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
            if digits.len() == 10 {
                self.data(57, 66, 3, &digits[..3]);
                self.data(57, 70, 8, &format!("{}-{}", &digits[3..6], &digits[6..]));
            } else {
                self.data(57, 66, 12, phone);
            }
        }
    }

    /// Street, city, state and ZIP on the grid lines of boxes 5 and 7, starting at `col`;
    /// `[street width, city width, state column, zip width]`.
    fn person_address(&mut self, address: &Address, col: u16, layout: [u16; 4]) {
        let [street_max, city_max, state_col, zip_max] = layout.map(usize::from);
        self.data(12, col, street_max, &street_lines(address).join(" "));
        self.data(14, col, city_max, address.city.as_deref().unwrap_or(""));
        self.data(
            14,
            u16::try_from(state_col).unwrap_or(col),
            2,
            address.state.as_deref().unwrap_or(""),
        );
        self.data(
            16,
            col,
            zip_max,
            address.postal_code.as_deref().unwrap_or(""),
        );
    }
}

/// Box 21's cells run across, then down: A-D on line 38, E-H on 39, I-L on 40, thirteen columns
/// apart from column 3.
fn diagnosis_cell(index: usize) -> (u16, u16) {
    let index = u16::try_from(index).unwrap_or(0);
    (38 + index / 4, 3 + 13 * (index % 4))
}

fn sex_col(sex: ClaimSex, male: u16, female: u16) -> Option<u16> {
    match sex {
        ClaimSex::Male => Some(male),
        ClaimSex::Female => Some(female),
        ClaimSex::Unknown => None,
    }
}

fn has_text(value: &str) -> bool {
    !value.trim().is_empty()
}

/// "LAST, FIRST", as boxes 2 and 4 ask.
fn person_name(person: &ClaimPerson) -> String {
    format!("{}, {}", person.last_name.trim(), person.first_name.trim())
}

fn street_lines(address: &Address) -> Vec<String> {
    [&address.line1, &address.line2]
        .into_iter()
        .flatten()
        .filter(|l| has_text(l))
        .map(|l| l.trim().to_owned())
        .collect()
}

fn city_state_zip(address: &Address) -> String {
    let city = address.city.as_deref().unwrap_or("").trim();
    let state = address.state.as_deref().unwrap_or("").trim();
    let zip = address.postal_code.as_deref().unwrap_or("").trim();
    let head = if city.is_empty() {
        state.to_owned()
    } else {
        format!("{city}, {state}")
    };
    format!("{head} {zip}").trim().to_owned()
}

/// Box 21 takes the code without its period: "F41.1" prints as "F411".
pub fn box21_code(code: &str) -> String {
    code.trim()
        .chars()
        .filter(|&c| c != '.')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Money as the form's charge boxes take it: dollars right-aligned, a space where the printed
/// rule separates the cents ("  150 00").
pub fn form_money(amount: Cents) -> String {
    let sign = if amount.0 < 0 { "-" } else { "" };
    let abs = amount.0.unsigned_abs();
    format!("{:>5} {:02}", format!("{sign}{}", abs / 100), abs % 100)
}

/// Box 31: the clinician's name and credentials, shortened to fit its twenty columns.
fn signer(claim: &ClaimDocument) -> String {
    let provider = &claim.rendering_provider;
    let credentials = provider.credentials.trim();
    let with_credentials = |name: String| {
        if credentials.is_empty() {
            name
        } else {
            format!("{name}, {credentials}")
        }
    };
    let full = with_credentials(format!(
        "{} {}",
        provider.first_name.trim(),
        provider.last_name.trim()
    ));
    if full.chars().count() <= 20 {
        return full;
    }
    let initial: String = provider.first_name.trim().chars().take(1).collect();
    with_credentials(format!("{initial} {}", provider.last_name.trim()))
}

/// Data as the form takes it: capitals, plain ASCII.
fn form_text(text: &str) -> String {
    form_ascii(text).to_ascii_uppercase()
}

/// ASCII for the base-14 fonts: accented Latin letters lose their accents, anything else that has
/// no ASCII form becomes a space.
fn form_ascii(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c,
            'À'..='Å' | 'à'..='å' => 'a',
            'Ç' | 'ç' => 'c',
            'È'..='Ë' | 'è'..='ë' => 'e',
            'Ì'..='Ï' | 'ì'..='ï' => 'i',
            'Ñ' | 'ñ' => 'n',
            'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' => 'o',
            'Ù'..='Ü' | 'ù'..='ü' => 'u',
            'Ý' | 'ý' | 'ÿ' => 'y',
            '\u{2019}' | '\u{2018}' => '\'',
            '\u{2013}' | '\u{2014}' => '-',
            _ => ' ',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::scrubber::tests::{clean_claim, line};

    #[test]
    fn box_21_prints_codes_without_the_period() {
        assert_eq!(box21_code("F41.1"), "F411");
        assert_eq!(box21_code(" f32.a "), "F32A");
        assert_eq!(box21_code("Z630"), "Z630");
    }

    #[test]
    fn charges_put_the_cents_after_the_rule() {
        assert_eq!(form_money(Cents(15000)), "  150 00");
        assert_eq!(form_money(Cents(2505)), "   25 05");
        assert_eq!(form_money(Cents(1234567)), "12345 67");
        assert_eq!(form_money(Cents(-300)), "   -3 00");
    }

    #[test]
    fn diagnoses_fill_the_grid_across_then_down() {
        assert_eq!(diagnosis_cell(0), (38, 3));
        assert_eq!(diagnosis_cell(3), (38, 42));
        assert_eq!(diagnosis_cell(4), (39, 3));
        assert_eq!(diagnosis_cell(11), (40, 42));
    }

    #[test]
    fn the_grid_is_ten_to_the_inch_and_six_lines_to_the_inch() {
        assert!((col_x(11) - col_x(1) - 72.0).abs() < 1e-3);
        assert!((baseline(1) - baseline(7) - 72.0).abs() < 1e-3);
        // The last column and line used stay on the page.
        assert!(col_x(79) + PITCH < PAGE_WIDTH);
        assert!(baseline(62) > 0.0);
        assert!((DATA_SIZE * 0.6 + DATA_SPACING - PITCH).abs() < 1e-3);
    }

    #[test]
    fn a_page_per_six_lines() {
        let mut claim = clean_claim();
        assert_eq!(pages_for(&claim), 1);
        claim.lines.clear();
        assert_eq!(pages_for(&claim), 1);
        for n in 1..=7 {
            claim
                .lines
                .push(line(n, "90837", time::macros::date!(2025 - 03 - 04), &[1]));
        }
        assert_eq!(pages_for(&claim), 2);
        claim.lines.truncate(6);
        assert_eq!(pages_for(&claim), 1);
    }

    #[test]
    fn box_31_shortens_the_name_to_fit() {
        let mut claim = clean_claim();
        assert_eq!(signer(&claim), "Maya Okafor, LCSW");
        claim.rendering_provider.first_name = "Christabel".into();
        claim.rendering_provider.last_name = "Montgomery".into();
        assert_eq!(signer(&claim), "C Montgomery, LCSW");
    }

    #[test]
    fn text_is_folded_to_capital_ascii() {
        assert_eq!(form_text("José Núñez"), "JOSE NUNEZ");
        assert_eq!(form_text("O’Brien"), "O'BRIEN");
        assert_eq!(form_text("李"), " ");
    }
}
