//! `lapor.routing.v1.DirectoryService`: the directory for officers and laporctl. Any officer
//! reads it; only an admin edits it (see `directory` for how an edit is kept and spread).

use crate::directory::{self, RefusedEdit};
use crate::grpc::{require_admin, unavailable};
use lapor_domain::directory_edit::{DirectoryEdit, EditError};
use lapor_domain::reference::{self, OfficerRole, Verification};
use lapor_messaging::envelope::to_timestamp;
use lapor_messaging::{Broker, Outbox};
use lapor_platform::auth::principal;
use lapor_platform::directory_sync::{self, LiveDirectory};
use lapor_platform::grpc::invalid_argument;
use lapor_proto::routing::v1::directory_service_server::DirectoryService;
use lapor_proto::routing::v1::edit_directory_request::Edit;
use lapor_proto::routing::v1::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct DirectoryGrpc {
    pub db: DatabaseConnection,
    pub outbox: Outbox,
    pub broker: Broker,
    pub live: Arc<LiveDirectory>,
}

const MAX_CHANGES: u32 = 200;

fn optional(text: String) -> Option<String> {
    let text = text.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn role(raw: &str) -> Result<OfficerRole, Status> {
    OfficerRole::parse(raw.trim()).ok_or_else(|| {
        invalid_argument(
            "role",
            &format!("{raw:?} is not one of admin, koordinator, penghubung, kepala, pimpinan"),
        )
    })
}

fn verification(raw: &str) -> Result<Option<Verification>, Status> {
    match raw.trim() {
        "" => Ok(None),
        "manual" => Ok(Some(Verification::Manual)),
        "automatic" => Ok(Some(Verification::Automatic)),
        other => Err(invalid_argument(
            "verification",
            &format!("{other:?} is not manual, automatic or empty (inherit)"),
        )),
    }
}

/// The request as a domain edit; field-level refusals here, consistency in `apply`.
fn to_edit(edit: Option<Edit>) -> Result<DirectoryEdit, Status> {
    let trimmed = |s: String| s.trim().to_owned();
    Ok(match edit.ok_or_else(|| invalid_argument("edit", "is required"))? {
        Edit::PutInstansi(i) => DirectoryEdit::PutInstansi(reference::Instansi {
            code: trimmed(i.code),
            name: trimmed(i.name),
        }),
        Edit::PutSkpd(s) => DirectoryEdit::PutSkpd(reference::Skpd {
            code: trimmed(s.code),
            name: trimmed(s.name),
            verification_desk: s.verification_desk,
            instansi: optional(s.instansi),
            sub_units: s.sub_units,
        }),
        Edit::PutCategory(c) => DirectoryEdit::PutCategory(reference::Category {
            code: trimmed(c.code),
            name: trimmed(c.name),
            verification: verification(&c.verification)?,
        }),
        Edit::PutRule(r) => DirectoryEdit::PutRule(reference::RoutingRule {
            category: trimmed(r.category),
            kabupaten: trimmed(r.kabupaten),
            skpd: trimmed(r.skpd),
            priority: r.priority,
        }),
        Edit::RemoveRule(k) => DirectoryEdit::RemoveRule {
            category: trimmed(k.category),
            kabupaten: trimmed(k.kabupaten),
        },
        Edit::PutOfficer(o) => DirectoryEdit::PutOfficer(reference::Officer {
            role: role(&o.role)?,
            id: trimmed(o.id),
            name: trimmed(o.name),
            skpd: trimmed(o.skpd),
            email: trimmed(o.email),
            phone: trimmed(o.phone),
            sub_unit: optional(o.sub_unit),
        }),
        Edit::RemoveOfficer(id) => DirectoryEdit::RemoveOfficer { id: trimmed(id) },
    })
}

fn to_proto(version: u64, d: &reference::Directory) -> Directory {
    Directory {
        version,
        instansi: d
            .instansi
            .iter()
            .map(|i| Instansi {
                code: i.code.clone(),
                name: i.name.clone(),
            })
            .collect(),
        skpds: d
            .skpds
            .iter()
            .map(|s| Skpd {
                code: s.code.clone(),
                name: s.name.clone(),
                verification_desk: s.verification_desk,
                instansi: s.instansi.clone().unwrap_or_default(),
                sub_units: s.sub_units.clone(),
            })
            .collect(),
        categories: d
            .categories
            .iter()
            .map(|c| Category {
                code: c.code.clone(),
                name: c.name.clone(),
                verification: match c.verification {
                    None => String::new(),
                    Some(Verification::Manual) => "manual".into(),
                    Some(Verification::Automatic) => "automatic".into(),
                },
            })
            .collect(),
        rules: d
            .rules
            .iter()
            .map(|r| RoutingRule {
                category: r.category.clone(),
                kabupaten: r.kabupaten.clone(),
                skpd: r.skpd.clone(),
                priority: r.priority,
            })
            .collect(),
        officers: d
            .officers
            .iter()
            .map(|o| Officer {
                id: o.id.clone(),
                name: o.name.clone(),
                skpd: o.skpd.clone(),
                role: o.role.as_str().to_owned(),
                email: o.email.clone(),
                phone: o.phone.clone(),
                sub_unit: o.sub_unit.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

fn refused(refusal: RefusedEdit) -> Status {
    match refusal {
        RefusedEdit::Stale { .. } => Status::failed_precondition(refusal.to_string()),
        RefusedEdit::Edit(EditError::Invalid { field, message }) => invalid_argument(field, &message),
        RefusedEdit::Edit(missing @ EditError::NotFound(_)) => Status::not_found(missing.to_string()),
        RefusedEdit::Database(error) => unavailable(error),
        RefusedEdit::Broker(error) => Status::unavailable(format!("cannot declare the SKPD's queue: {error:#}")),
    }
}

#[tonic::async_trait]
impl DirectoryService for DirectoryGrpc {
    async fn get_directory(&self, request: Request<GetDirectoryRequest>) -> Result<Response<Directory>, Status> {
        let caller = principal(&request)?;
        // From the table, not this replica's copy: an admin's next edit names this version,
        // and another replica may have made the last one a moment ago.
        let (version, directory) = directory_sync::latest(&self.db, directory::TABLE)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| Status::unavailable("the directory is not initialised yet"))?;
        let mut shown = to_proto(version, &directory);
        if caller.role != OfficerRole::Admin {
            // Colleagues' contacts are for the notification service and the admin.
            for officer in &mut shown.officers {
                officer.email.clear();
                officer.phone.clear();
            }
        }
        Ok(Response::new(shown))
    }

    async fn edit_directory(
        &self,
        request: Request<EditDirectoryRequest>,
    ) -> Result<Response<DirectoryChange>, Status> {
        let admin = require_admin(&request, "only an admin changes the directory")?;
        let request = request.into_inner();
        let change = to_edit(request.edit)?;
        let actor = format!("officer:{}", admin.subject);
        let version = directory::edit(
            &self.db,
            &self.outbox,
            &self.broker,
            &self.live,
            &actor,
            request.expected_version,
            &change,
        )
        .await
        .map_err(refused)?;
        Ok(Response::new(DirectoryChange { version }))
    }

    async fn list_directory_changes(
        &self,
        request: Request<ListDirectoryChangesRequest>,
    ) -> Result<Response<ListDirectoryChangesResponse>, Status> {
        require_admin(&request, "only an admin reads the directory's audit log")?;
        let limit = match request.into_inner().limit {
            0 => MAX_CHANGES,
            n => n.min(MAX_CHANGES),
        };
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT version, changed_at, actor, action, coalesce(before::text, '') AS before, \
                 coalesce(edit::text, '') AS edit FROM directory_changes ORDER BY version DESC LIMIT $1",
                [i64::from(limit).into()],
            ))
            .await
            .map_err(unavailable)?;
        let changes = rows
            .into_iter()
            .map(|row| {
                let at: chrono::DateTime<chrono::Utc> = row.try_get("", "changed_at")?;
                Ok(DirectoryChangeEntry {
                    version: row.try_get::<i64>("", "version")?.max(0) as u64,
                    at: Some(to_timestamp(at)),
                    actor: row.try_get("", "actor")?,
                    action: row.try_get("", "action")?,
                    before_json: row.try_get("", "before")?,
                    after_json: row.try_get("", "edit")?,
                })
            })
            .collect::<Result<Vec<_>, sea_orm::DbErr>>()
            .map_err(unavailable)?;
        Ok(Response::new(ListDirectoryChangesResponse { changes }))
    }
}
