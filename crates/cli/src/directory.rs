//! `laporctl directory …`: the directory routing keeps (instansi, SKPDs and sub-units,
//! categories, routing rules, officers) and its audit log. Changes are read-modify-write:
//! options left out keep the entry's current values, and the edit names the version it was
//! based on, so a change made meanwhile by another admin is refused rather than overwritten.

use crate::{authorized, connect, status_error, table, time};
use clap::Subcommand;
use lapor_proto::routing::v1::directory_service_client::DirectoryServiceClient;
use lapor_proto::routing::v1::edit_directory_request::Edit;
use lapor_proto::routing::v1::{
    Category, Directory, EditDirectoryRequest, GetDirectoryRequest, Instansi, ListDirectoryChangesRequest, Officer,
    RoutingRule, RuleKey, Skpd,
};
use serde_json::json;
use tonic::transport::Channel;

#[derive(Subcommand)]
pub enum DirectoryCommand {
    /// The directory in force: instansi, SKPDs, categories, routing rules and officers.
    Show,
    /// Add an instansi (government body) or rename one.
    Instansi {
        code: String,
        #[arg(long)]
        name: String,
    },
    /// Add an SKPD (its queue skpd.<code> is declared) or change one.
    Skpd {
        /// Lowercase letters, digits and '-': it names the queue.
        code: String,
        #[arg(long)]
        name: Option<String>,
        /// Instansi code; "" for the province's own.
        #[arg(long)]
        instansi: Option<String>,
        /// A bidang/seksi koordinators dispose to; repeat for each. Replaces the list.
        #[arg(long = "sub-unit")]
        sub_units: Vec<String>,
        /// Remove every sub-unit (any name is then taken).
        #[arg(long, conflicts_with = "sub_units")]
        no_sub_units: bool,
    },
    /// Add a category or change its name or verification (manual, automatic, "" inherits).
    Category {
        /// Dotted: kesehatan.jkn is a child of kesehatan.
        code: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        verification: Option<String>,
    },
    /// Route a category (and its children) in a kabupaten/kota ("*" for all) to an SKPD.
    Rule {
        category: String,
        kabupaten: String,
        #[arg(long)]
        skpd: Option<String>,
        /// Breaks ties between equally specific rules; higher wins.
        #[arg(long)]
        priority: Option<i32>,
    },
    /// Remove a routing rule.
    RemoveRule { category: String, kabupaten: String },
    /// Add an officer or change one (they are notified at these contacts).
    Officer {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        skpd: Option<String>,
        /// admin, koordinator, penghubung, kepala or pimpinan.
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// +62 form.
        #[arg(long)]
        phone: Option<String>,
        /// "" for SKPD level.
        #[arg(long)]
        sub_unit: Option<String>,
    },
    /// Remove an officer (no more messages to them).
    RemoveOfficer { id: String },
    /// The directory's audit log, newest first.
    Changes {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

fn or_current(given: Option<String>, current: Option<&str>) -> String {
    given.unwrap_or_else(|| current.unwrap_or_default().to_owned())
}

/// The edit, with left-out options filled from `current`.
fn edit_of(command: DirectoryCommand, current: &Directory) -> Option<Edit> {
    Some(match command {
        DirectoryCommand::Show | DirectoryCommand::Changes { .. } => return None,
        DirectoryCommand::Instansi { code, name } => Edit::PutInstansi(Instansi { code, name }),
        DirectoryCommand::Skpd {
            code,
            name,
            instansi,
            sub_units,
            no_sub_units,
        } => {
            let existing = current.skpds.iter().find(|s| s.code == code);
            Edit::PutSkpd(Skpd {
                name: or_current(name, existing.map(|s| s.name.as_str())),
                verification_desk: existing.is_some_and(|s| s.verification_desk),
                instansi: or_current(instansi, existing.map(|s| s.instansi.as_str())),
                sub_units: match (no_sub_units, sub_units.is_empty(), existing) {
                    (true, _, _) => Vec::new(),
                    (false, false, _) => sub_units,
                    (false, true, existing) => existing.map(|s| s.sub_units.clone()).unwrap_or_default(),
                },
                code,
            })
        }
        DirectoryCommand::Category {
            code,
            name,
            verification,
        } => {
            let existing = current.categories.iter().find(|c| c.code == code);
            Edit::PutCategory(Category {
                name: or_current(name, existing.map(|c| c.name.as_str())),
                verification: or_current(verification, existing.map(|c| c.verification.as_str())),
                code,
            })
        }
        DirectoryCommand::Rule {
            category,
            kabupaten,
            skpd,
            priority,
        } => {
            let existing = current
                .rules
                .iter()
                .find(|r| r.category == category && r.kabupaten == kabupaten);
            Edit::PutRule(RoutingRule {
                skpd: or_current(skpd, existing.map(|r| r.skpd.as_str())),
                priority: priority.or(existing.map(|r| r.priority)).unwrap_or(0),
                category,
                kabupaten,
            })
        }
        DirectoryCommand::RemoveRule { category, kabupaten } => Edit::RemoveRule(RuleKey { category, kabupaten }),
        DirectoryCommand::Officer {
            id,
            name,
            skpd,
            role,
            email,
            phone,
            sub_unit,
        } => {
            let existing = current.officers.iter().find(|o| o.id == id);
            Edit::PutOfficer(Officer {
                name: or_current(name, existing.map(|o| o.name.as_str())),
                skpd: or_current(skpd, existing.map(|o| o.skpd.as_str())),
                role: or_current(role, existing.map(|o| o.role.as_str())),
                email: or_current(email, existing.map(|o| o.email.as_str())),
                phone: or_current(phone, existing.map(|o| o.phone.as_str())),
                sub_unit: or_current(sub_unit, existing.map(|o| o.sub_unit.as_str())),
                id,
            })
        }
        DirectoryCommand::RemoveOfficer { id } => Edit::RemoveOfficer(id),
    })
}

pub async fn run(
    routing: &str,
    token: &Option<String>,
    json_output: bool,
    command: DirectoryCommand,
) -> anyhow::Result<()> {
    let mut client = DirectoryServiceClient::new(connect(routing).await?);
    if let DirectoryCommand::Changes { limit } = command {
        return changes(&mut client, token, json_output, limit).await;
    }
    let current = client
        .get_directory(authorized(GetDirectoryRequest {}, token)?)
        .await
        .map_err(status_error)?
        .into_inner();
    let Some(edit) = edit_of(command, &current) else {
        print_directory(&current, json_output);
        return Ok(());
    };
    let request = EditDirectoryRequest {
        expected_version: current.version,
        edit: Some(edit),
    };
    let change = client
        .edit_directory(authorized(request, token)?)
        .await
        .map_err(status_error)?
        .into_inner();
    if json_output {
        println!("{}", json!({"version": change.version}));
    } else {
        println!("directory version {}", change.version);
    }
    Ok(())
}

async fn changes(
    client: &mut DirectoryServiceClient<Channel>,
    token: &Option<String>,
    json_output: bool,
    limit: u32,
) -> anyhow::Result<()> {
    let changes = client
        .list_directory_changes(authorized(ListDirectoryChangesRequest { limit }, token)?)
        .await
        .map_err(status_error)?
        .into_inner()
        .changes;
    if json_output {
        let rows: Vec<_> = changes
            .iter()
            .map(|c| {
                json!({"version": c.version, "at": time(c.at.as_ref()), "actor": c.actor, "action": c.action,
                       "before": c.before_json, "after": c.after_json})
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        let mut t = table(&["version", "at", "actor", "action", "before", "after"]);
        for c in &changes {
            t.add_row(vec![
                c.version.to_string(),
                time(c.at.as_ref()),
                c.actor.clone(),
                c.action.clone(),
                c.before_json.clone(),
                c.after_json.clone(),
            ]);
        }
        println!("{t}");
    }
    Ok(())
}

fn print_directory(d: &Directory, json_output: bool) {
    if json_output {
        let skpds: Vec<_> = d
            .skpds
            .iter()
            .map(|s| {
                json!({"code": s.code, "name": s.name, "instansi": s.instansi, "sub_units": s.sub_units,
                            "verification_desk": s.verification_desk})
            })
            .collect();
        let categories: Vec<_> = d
            .categories
            .iter()
            .map(|c| json!({"code": c.code, "name": c.name, "verification": c.verification}))
            .collect();
        let rules: Vec<_> = d
            .rules
            .iter()
            .map(|r| json!({"category": r.category, "kabupaten": r.kabupaten, "skpd": r.skpd, "priority": r.priority}))
            .collect();
        let officers: Vec<_> = d
            .officers
            .iter()
            .map(|o| {
                json!({"id": o.id, "name": o.name, "skpd": o.skpd, "role": o.role, "email": o.email,
                            "phone": o.phone, "sub_unit": o.sub_unit})
            })
            .collect();
        let instansi: Vec<_> = d
            .instansi
            .iter()
            .map(|i| json!({"code": i.code, "name": i.name}))
            .collect();
        println!(
            "{}",
            json!({"version": d.version, "instansi": instansi, "skpds": skpds, "categories": categories,
                   "rules": rules, "officers": officers})
        );
        return;
    }
    println!("directory version {}", d.version);
    let mut t = table(&["instansi", "name"]);
    for i in &d.instansi {
        t.add_row(vec![i.code.clone(), i.name.clone()]);
    }
    println!("{t}");
    let mut t = table(&["skpd", "name", "instansi", "sub-units"]);
    for s in &d.skpds {
        let name = if s.verification_desk {
            format!("{} (verification desk)", s.name)
        } else {
            s.name.clone()
        };
        t.add_row(vec![s.code.clone(), name, s.instansi.clone(), s.sub_units.join(", ")]);
    }
    println!("{t}");
    let mut t = table(&["category", "name", "verification"]);
    for c in &d.categories {
        t.add_row(vec![c.code.clone(), c.name.clone(), c.verification.clone()]);
    }
    println!("{t}");
    let mut t = table(&["rule: category", "kabupaten", "skpd", "priority"]);
    for r in &d.rules {
        t.add_row(vec![
            r.category.clone(),
            r.kabupaten.clone(),
            r.skpd.clone(),
            r.priority.to_string(),
        ]);
    }
    println!("{t}");
    let mut t = table(&["officer", "name", "skpd", "role", "sub-unit", "email", "phone"]);
    for o in &d.officers {
        t.add_row(vec![
            o.id.clone(),
            o.name.clone(),
            o.skpd.clone(),
            o.role.clone(),
            o.sub_unit.clone(),
            o.email.clone(),
            o.phone.clone(),
        ]);
    }
    println!("{t}");
}
