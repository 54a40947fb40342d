//! Evidence a practice attaches to an attestation checklist item — the QI
//! team's minutes, a policy, a registry screenshot — which the facilitator
//! reads before accepting the item. Kept as a DocumentReference in the
//! practice's tenant, written through the ordinary create (audited,
//! versioned, durable once answered), whose `context.related` names the
//! checklist item by identifier. Only a few document types are taken,
//! recognised by their bytes rather than their name, each bounded.

use base64::Engine;
use serde_json::{Value, json};

use crate::auth::policy::Interaction;
use crate::fhir::outcome::Issue;
use crate::service::fhir_api::crud::WriteRequest;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// Largest evidence file.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// Names the checklist item a document is evidence for.
pub const ITEM_SYSTEM: &str = "http://tandem.health/fhir/attestation-item";
/// The DocumentReference type of attestation evidence.
pub const EVIDENCE_CS: &str = "http://tandem.health/fhir/CodeSystem/attestation-evidence";

/// What a member uploaded.
pub struct Upload {
    pub item: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// One evidence document, without its content.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceFile {
    pub id: String,
    pub item: String,
    pub title: String,
    pub content_type: String,
    pub size: u64,
    pub date: String,
    pub author: String,
}

/// The content type of an accepted file, from its leading bytes (and, for
/// the zip-based Office formats and text, its name).
pub fn sniff(name: &str, bytes: &[u8]) -> Result<&'static str, String> {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map_or("", |(_, e)| e);
    let kind = if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"\xFF\xD8\xFF") {
        Some("image/jpeg")
    } else if bytes.starts_with(b"PK\x03\x04") {
        match ext {
            "docx" => {
                Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
            }
            "xlsx" => Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            _ => None,
        }
    } else if std::str::from_utf8(bytes).is_ok_and(|t| !t.contains('\0')) {
        match ext {
            "txt" => Some("text/plain"),
            "csv" => Some("text/csv"),
            _ => None,
        }
    } else {
        None
    };
    kind.ok_or_else(|| {
        format!("'{name}' is not a PDF, PNG, JPEG, Word (.docx), Excel (.xlsx), text or CSV file.")
    })
}

fn file_of(doc: &Value) -> Option<EvidenceFile> {
    let a = &doc["content"][0]["attachment"];
    let item = doc["context"]["related"]
        .as_array()?
        .iter()
        .find(|r| r["identifier"]["system"] == ITEM_SYSTEM)?["identifier"]["value"]
        .as_str()?
        .to_string();
    Some(EvidenceFile {
        id: doc["id"].as_str()?.to_string(),
        item,
        title: a["title"].as_str().unwrap_or("evidence").to_string(),
        content_type: a["contentType"].as_str()?.to_string(),
        size: a["size"].as_u64().unwrap_or(0),
        date: doc["date"].as_str().unwrap_or_default().to_string(),
        author: doc["author"][0]["display"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

fn is_evidence(doc: &Value) -> bool {
    doc["type"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["system"] == EVIDENCE_CS)
}

impl FhirService {
    /// A practice member's evidence for checklist item `upload.item`;
    /// returns the DocumentReference's id.
    pub async fn attach_evidence(
        &self,
        ctx: &AccessContext,
        org: &str,
        upload: Upload,
    ) -> Result<String, ServiceError> {
        self.practice_user(
            ctx,
            org,
            ("DocumentReference", Interaction::Create),
            "Evidence is attached",
        )?;
        let e = self.milestone_access(ctx, org)?;
        let bad = |m: String| ServiceError::bad(Issue::error("invalid", m));
        let milestone = super::checklist::checklist_item(&e, &upload.item)?;
        if upload.bytes.is_empty() {
            return Err(bad("The file is empty.".into()));
        }
        if upload.bytes.len() > MAX_BYTES {
            return Err(ServiceError::TooLarge(Issue::error(
                "too-costly",
                format!("An evidence file is at most {} MiB.", MAX_BYTES >> 20),
            )));
        }
        let title: String = upload
            .file_name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let content_type = sniff(&title, &upload.bytes).map_err(bad)?;
        let author = ctx
            .grant
            .person
            .as_ref()
            .map_or(ctx.client_id.clone(), |p| p.name.clone());
        let now = crate::fhir::datetime::format_instant_ms(self.clock.now_ms());
        let doc = json!({
            "resourceType": "DocumentReference",
            "status": "current",
            "type": { "coding": [{ "system": EVIDENCE_CS, "code": "evidence",
                                   "display": "Attestation evidence" }] },
            "date": now,
            "author": [{ "display": author }],
            "custodian": { "reference": format!("Organization/{org}") },
            "description": format!("Evidence for {}: {}", milestone.id, milestone.title),
            "content": [{ "attachment": {
                "contentType": content_type,
                "data": base64::engine::general_purpose::STANDARD.encode(&upload.bytes),
                "size": upload.bytes.len(),
                "title": title,
                "creation": now,
            } }],
            "context": { "related": [{
                "identifier": { "system": ITEM_SYSTEM, "value": milestone.id },
                "display": milestone.title,
            }] },
        });
        let written = self
            .create(ctx, "DocumentReference", doc, WriteRequest::default())
            .await?;
        Ok(written.resource.map(|r| r.id).unwrap_or_default())
    }

    /// Every evidence document of the practice (without content), newest
    /// first, for whoever may read its milestones: read as Tandem, since
    /// overseers read the checklist but not the practice's resources.
    pub async fn evidence_files(
        &self,
        ctx: &AccessContext,
        org: &str,
    ) -> Result<Vec<EvidenceFile>, ServiceError> {
        self.milestone_access(ctx, org)?;
        let internal = AccessContext::internal(org, &ctx.request_id);
        let mut files = self
            .find_map(
                &internal,
                "DocumentReference",
                &[("type", format!("{EVIDENCE_CS}|evidence"))],
                |d| file_of(&d),
            )
            .await?;
        files.sort_by(|a, b| b.date.cmp(&a.date));
        Ok(files)
    }

    /// One evidence document with its bytes, for whoever may read the
    /// practice's milestones; the read is audited with the person.
    pub async fn evidence_file(
        &self,
        ctx: &AccessContext,
        org: &str,
        id: &str,
    ) -> Result<(EvidenceFile, Vec<u8>), ServiceError> {
        self.milestone_access(ctx, org)?;
        let internal = AccessContext::internal(org, &ctx.request_id);
        let not_found = || {
            ServiceError::NotFound(Issue::error(
                "not-found",
                format!("There is no evidence document '{id}'."),
            ))
        };
        let stored = self
            .store
            .read(&internal, "DocumentReference", id)
            .await?
            .filter(|r| !r.deleted)
            .ok_or_else(not_found)?;
        let doc: Value = serde_json::from_str(&stored.body)
            .ok()
            .filter(is_evidence)
            .ok_or_else(not_found)?;
        let file = file_of(&doc).ok_or_else(not_found)?;
        let bytes = doc["content"][0]["attachment"]["data"]
            .as_str()
            .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
            .ok_or_else(not_found)?;
        self.audit_read(
            ctx,
            Interaction::Read,
            "DocumentReference",
            &[&stored],
            None,
        );
        Ok((file, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_recognised_by_their_bytes() {
        assert_eq!(
            sniff("minutes.pdf", b"%PDF-1.7 ...").unwrap(),
            "application/pdf"
        );
        assert_eq!(sniff("x.bin", b"%PDF-1.4").unwrap(), "application/pdf");
        assert_eq!(
            sniff("a.png", b"\x89PNG\r\n\x1a\n....").unwrap(),
            "image/png"
        );
        assert_eq!(sniff("a.jpg", b"\xFF\xD8\xFF\xE0").unwrap(), "image/jpeg");
        assert!(
            sniff("plan.docx", b"PK\x03\x04...")
                .unwrap()
                .contains("wordprocessingml")
        );
        assert!(
            sniff("run.xlsx", b"PK\x03\x04...")
                .unwrap()
                .contains("spreadsheetml")
        );
        assert_eq!(sniff("notes.txt", "café".as_bytes()).unwrap(), "text/plain");
        assert_eq!(sniff("list.csv", b"a,b\n1,2").unwrap(), "text/csv");
        // A name does not make a file what it says.
        assert!(sniff("evil.pdf", b"<html><script>").is_err());
        assert!(sniff("archive.zip", b"PK\x03\x04...").is_err());
        assert!(sniff("page.html", b"<html></html>").is_err());
        assert!(sniff("bin.txt", b"a\0b").is_err());
    }
}
