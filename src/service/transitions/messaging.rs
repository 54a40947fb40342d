//! FHIR messaging: `$process-message` for Da Vinci Unsolicited Notifications.
//!
//! A message is validated against the IG's rules (`fhir::message`), then kept
//! as a `Bundle` resource whose id is derived from `MessageHeader.id`, in one
//! transaction with its AuditEvent. Receiving the same MessageHeader.id again
//! answers 200 and changes nothing (FHIR messaging's reliable delivery keys on
//! the message id). A rejected message stores nothing.

use serde_json::Value;

use crate::auth::policy::Interaction;
use crate::fhir::message;
use crate::fhir::outcome::{Issue, operation_outcome};
use crate::service::transitions::receive::{Received, Stamped, Unit, message_patient};
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, transact};

impl FhirService {
    /// Receives a notification message; returns the informational OperationOutcome.
    pub async fn process_message(
        &self,
        ctx: &AccessContext,
        body: Value,
    ) -> Result<Value, ServiceError> {
        self.allow(ctx, "MessageHeader", Interaction::Create)?;
        if ctx.guest {
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                "Messages are received for the client's own organization, not as a guest of another practice.",
            )));
        }
        let notification = message::check(&body).map_err(ServiceError::BadRequest)?;
        let entries = body["entry"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let prematched = match message_patient(entries) {
            Some(p) => self.prematch(ctx, p).await?,
            None => None,
        };
        let prepared = self.prepare(body, Some("Bundle"), None)?;
        let (st, audit) = (
            self.stamper(),
            self.audit_unit(ctx, Interaction::Operation, "MessageHeader"),
        );
        let (tenant, rules) = (ctx.tenant.clone(), self.settings.transitions.clone());
        // Stamping serializes the ~10 KB message once: tens of microseconds,
        // like parsing it, so it stays on this task. Handing it to the blocking
        // pool cost two thread hand-overs per message and measured slower.
        let mut stamped = Stamped::new(&st, &notification, prepared.value);
        // Compressing the ~10 KB message is the store's work, but not the
        // writer thread's: done here, every sender's task does its own.
        self.store.encode_ahead(&mut stamped.processed)?;
        let received = transact(self.store.as_ref(), ctx, move |tx| {
            let mut unit = Unit {
                tx,
                st: &st,
                tenant: &tenant,
                rules: &rules,
            };
            let outcome = unit.receive(&notification, stamped, prematched)?;
            if let Some(id) = &outcome.kept {
                audit.commit_named(tx, format!("Bundle/{id}"), outcome.patient.clone())?;
            }
            Ok::<_, ServiceError>(outcome)
        })
        .await?;
        // The entries are dropped here, not on the writer.
        let text = match received.received {
            Received::Processed => {
                "The message was received and the message has been fully processed"
            }
            Received::Held => {
                "The message was received and is held: its patient is not (yet) known to this practice"
            }
            Received::Replay => {
                "This message (same MessageHeader.id) was received before; nothing was changed"
            }
        };
        Ok(operation_outcome(&[Issue {
            code: "informational",
            ..Issue::info(text)
        }]))
    }
}
