//! FHIR messaging: `$process-message` for Da Vinci Unsolicited Notifications.
//!
//! A message is validated against the IG's rules (`fhir::message`), then kept
//! as a `Bundle` resource whose id is derived from `MessageHeader.id`, in one
//! transaction with its AuditEvent. Receiving the same MessageHeader.id again
//! answers 200 and changes nothing (FHIR messaging's reliable delivery keys on
//! the message id). A rejected message stores nothing.

use serde_json::Value;

use super::resource::stored;
use super::{FhirService, ServiceError};
use crate::auth::policy::Interaction;
use crate::fhir::id::derived;
use crate::fhir::message;
use crate::fhir::outcome::{Issue, operation_outcome};
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
        let prepared = self.prepare(body, Some("Bundle"), None)?;
        let id = derived("msg", &notification.message_id);
        let (st, audit) = (
            self.stamper(),
            self.audit_unit(ctx, Interaction::Operation, "MessageHeader"),
        );
        let first = transact(self.store.as_ref(), ctx, move |tx| {
            let current = tx.current("Bundle", &id)?;
            if current.as_ref().is_some_and(|c| !c.deleted) {
                return Ok::<_, ServiceError>(false);
            }
            let version = current.map_or(1, |c| c.version + 1);
            let v = st.version("Bundle", &id, version, prepared.value, "POST");
            let s = stored(&v);
            tx.write(v)?;
            audit.commit(tx, std::iter::once(&s))?;
            Ok(true)
        })
        .await?;
        let text = if first {
            "The message was received and the message has been fully processed"
        } else {
            "This message (same MessageHeader.id) was received before; nothing was changed"
        };
        Ok(operation_outcome(&[Issue {
            code: "informational",
            ..Issue::info(text)
        }]))
    }
}
