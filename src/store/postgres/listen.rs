//! Wake-ups across nodes: a unit that queued outbox messages sends
//! `NOTIFY tandem_outbox` as it commits (`tx.rs`), and every node keeps
//! one dedicated connection listening, turning each notification into its
//! outbox worker's signal. The worker also polls (every 250 ms), so a lost
//! connection only delays delivery until it is back.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

/// The channel outbox wake-ups are sent on.
pub const CHANNEL: &str = "tandem_outbox";

/// Listens until aborted, reconnecting after a failure.
pub fn spawn(config: tokio_postgres::Config, signal: Arc<Notify>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = listen(&config, &signal).await {
                tracing::warn!(error = %e, "outbox wake-ups: listening connection lost; polling meanwhile");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

async fn listen(
    config: &tokio_postgres::Config,
    signal: &Notify,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    // The LISTEN is answered through the connection driven below.
    let sql = format!("LISTEN {CHANNEL}");
    let subscribe = client.batch_execute(&sql);
    tokio::pin!(subscribe);
    let mut subscribed = false;
    loop {
        tokio::select! {
            done = &mut subscribe, if !subscribed => {
                done?;
                subscribed = true;
                // Anything queued while this node was not listening.
                signal.notify_one();
            }
            message = messages.next() => match message {
                Some(Ok(AsyncMessage::Notification(_))) => signal.notify_one(),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
        }
    }
}
