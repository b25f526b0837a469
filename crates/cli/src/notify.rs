//! `laporctl deliveries …`, `laporctl prefs …` and `laporctl dead-letters …`: the
//! notification service's delivery log, resends, people's preferences and dead letters.

use crate::{authorized, connect, status_error, table, time};
use clap::Subcommand;
use lapor_proto::notification::v1::notification_service_client::NotificationServiceClient;
use lapor_proto::notification::v1::{
    Delivery, GetPreferencesRequest, ListDeadLettersRequest, ListDeliveriesRequest, Preferences,
    ReplayDeadLettersRequest, ResendDeliveryRequest,
};
use serde_json::json;

#[derive(Subcommand)]
pub enum DeliveryCommand {
    /// The delivery log, newest first.
    List {
        #[arg(long, default_value = "")]
        tracking_id: String,
        #[arg(long, default_value = "")]
        skpd: String,
        /// PENDING, SENDING, SENT, DELIVERED or FAILED.
        #[arg(long, default_value = "")]
        state: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Send a FAILED delivery again.
    Resend { delivery_id: String },
}

#[derive(Subcommand)]
pub enum PrefsCommand {
    Show {
        recipient_id: String,
    },
    Set {
        recipient_id: String,
        /// email, sms or both.
        #[arg(long)]
        channels: String,
        /// id or en.
        #[arg(long, default_value = "id")]
        lang: String,
        /// Quiet hours for non-urgent SMS, "HH:MM" WITA; omit both for the default.
        #[arg(long, default_value = "")]
        quiet_start: String,
        #[arg(long, default_value = "")]
        quiet_end: String,
    },
}

#[derive(Subcommand)]
pub enum DeadLetterCommand {
    /// Dead letters of the notification queues (they stay in place).
    List {
        /// e.g. skpd.dinkes; all queues when omitted.
        #[arg(long, default_value = "")]
        queue: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Move dead letters back to their work queue.
    Replay {
        queue: String,
        /// Only these event ids; all when omitted.
        event_ids: Vec<String>,
    },
}

fn delivery_json(d: &Delivery) -> serde_json::Value {
    json!({"delivery_id": d.delivery_id, "tracking_id": d.tracking_id, "skpd_code": d.skpd_code,
           "recipient_id": d.recipient_id, "channel": d.channel, "kind": d.kind, "address": d.address,
           "state": d.state, "attempts": d.attempts, "last_error": d.last_error,
           "next_attempt_at": time(d.next_attempt_at.as_ref()), "sent_at": time(d.sent_at.as_ref()),
           "delivered_at": time(d.delivered_at.as_ref()), "fallback_for": d.fallback_for})
}

fn print_deliveries(deliveries: &[Delivery], json_output: bool) {
    if json_output {
        println!(
            "{}",
            serde_json::Value::Array(deliveries.iter().map(delivery_json).collect())
        );
        return;
    }
    let mut t = table(&[
        "delivery",
        "tracking id",
        "recipient",
        "channel",
        "kind",
        "address",
        "state",
        "tries",
        "sent",
        "error",
    ]);
    for d in deliveries {
        t.add_row(vec![
            d.delivery_id.clone(),
            d.tracking_id.clone(),
            if d.recipient_name.is_empty() {
                d.recipient_id.clone()
            } else {
                d.recipient_name.clone()
            },
            d.channel.clone(),
            d.kind.clone(),
            d.address.clone(),
            d.state.clone(),
            d.attempts.to_string(),
            time(d.sent_at.as_ref()),
            d.last_error.chars().take(60).collect(),
        ]);
    }
    println!("{t}\n{} delivery(ies)", deliveries.len());
}

fn print_preferences(p: &Preferences, json_output: bool) {
    if json_output {
        println!(
            "{}",
            json!({"recipient_id": p.recipient_id, "channels": p.channels, "lang": p.lang,
                   "quiet_start": p.quiet_start, "quiet_end": p.quiet_end})
        );
    } else {
        let quiet = if p.quiet_start.is_empty() {
            "service default".to_owned()
        } else {
            format!("{}–{} WITA", p.quiet_start, p.quiet_end)
        };
        println!(
            "{}: channels {}, language {}, quiet hours {quiet}",
            p.recipient_id, p.channels, p.lang
        );
    }
}

pub async fn deliveries(
    url: &str,
    token: &Option<String>,
    json_output: bool,
    command: DeliveryCommand,
) -> anyhow::Result<()> {
    let mut client = NotificationServiceClient::new(connect(url).await?);
    match command {
        DeliveryCommand::List {
            tracking_id,
            skpd,
            state,
            limit,
        } => {
            let request = ListDeliveriesRequest {
                tracking_id,
                skpd_code: skpd,
                limit,
                state,
            };
            let deliveries = client
                .list_deliveries(authorized(request, token)?)
                .await
                .map_err(status_error)?
                .into_inner()
                .deliveries;
            print_deliveries(&deliveries, json_output);
        }
        DeliveryCommand::Resend { delivery_id } => {
            let delivery = client
                .resend_delivery(authorized(ResendDeliveryRequest { delivery_id }, token)?)
                .await
                .map_err(status_error)?
                .into_inner();
            print_deliveries(&[delivery], json_output);
        }
    }
    Ok(())
}

pub async fn prefs(url: &str, token: &Option<String>, json_output: bool, command: PrefsCommand) -> anyhow::Result<()> {
    let mut client = NotificationServiceClient::new(connect(url).await?);
    let preferences = match command {
        PrefsCommand::Show { recipient_id } => client
            .get_preferences(authorized(GetPreferencesRequest { recipient_id }, token)?)
            .await
            .map_err(status_error)?,
        PrefsCommand::Set {
            recipient_id,
            channels,
            lang,
            quiet_start,
            quiet_end,
        } => {
            let wanted = Preferences {
                recipient_id,
                channels,
                lang,
                quiet_start,
                quiet_end,
            };
            client
                .set_preferences(authorized(wanted, token)?)
                .await
                .map_err(status_error)?
        }
    }
    .into_inner();
    print_preferences(&preferences, json_output);
    Ok(())
}

pub async fn dead_letters(
    url: &str,
    token: &Option<String>,
    json_output: bool,
    command: DeadLetterCommand,
) -> anyhow::Result<()> {
    let mut client = NotificationServiceClient::new(connect(url).await?);
    match command {
        DeadLetterCommand::List { queue, limit } => {
            let letters = client
                .list_dead_letters(authorized(ListDeadLettersRequest { queue, limit }, token)?)
                .await
                .map_err(status_error)?
                .into_inner()
                .dead_letters;
            if json_output {
                let rows: Vec<_> = letters
                    .iter()
                    .map(|d| {
                        json!({"queue": d.queue, "event_id": d.event_id, "event_type": d.event_type,
                               "tracking_id": d.tracking_id, "reason": d.reason, "deliveries": d.deliveries,
                               "body_bytes": d.body_bytes})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                let mut t = table(&["queue", "event id", "type", "tracking id", "reason", "deliveries"]);
                for d in &letters {
                    t.add_row(vec![
                        d.queue.clone(),
                        d.event_id.clone(),
                        d.event_type.clone(),
                        d.tracking_id.clone(),
                        d.reason.clone(),
                        d.deliveries.to_string(),
                    ]);
                }
                println!("{t}\n{} dead letter(s)", letters.len());
            }
        }
        DeadLetterCommand::Replay { queue, event_ids } => {
            let replayed = client
                .replay_dead_letters(authorized(ReplayDeadLettersRequest { queue, event_ids }, token)?)
                .await
                .map_err(status_error)?
                .into_inner()
                .replayed;
            if json_output {
                println!("{}", json!({ "replayed": replayed }));
            } else {
                println!("{replayed} dead letter(s) replayed");
            }
        }
    }
    Ok(())
}
