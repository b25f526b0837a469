//! `lapor.routing.v1.PolicyService`: the working-day calendar and the SLA policy. Any officer
//! reads; only an admin changes, each change audited in `policy_audit`. Calendar changes
//! recompute pending deadlines in the same transaction, serialised by an advisory lock so two
//! admins' edits cannot interleave.

use crate::clock::{ClockRules, lock_for_calendar_edit, recompute_pending};
use crate::grpc::{require_admin, unavailable};
use crate::policy_store;
use chrono::NaiveDate;
use lapor_domain::calendar::{self, CalendarError, HolidayKind, HolidayScope, Zone};
use lapor_domain::sla::{SlaError, SlaScope, SlaStage, check_tier_code, check_working_days};
use lapor_platform::auth::{Principal, principal};
use lapor_platform::grpc::invalid_argument;
use lapor_proto::routing::v1::policy_service_server::PolicyService;
use lapor_proto::routing::v1::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement, TransactionTrait};
use serde_json::json;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct PolicyGrpc {
    pub db: DatabaseConnection,
    pub rules: Arc<ClockRules>,
    pub directory: Arc<lapor_platform::directory_sync::LiveDirectory>,
}

/// A caller checked to be the provincial admin: the only way into a policy change, so
/// the check comes before anything in the request is read.
struct Admin(Principal);

fn admin<T>(request: &Request<T>) -> Result<Admin, Status> {
    require_admin(request, "only an admin changes the calendar and the SLA policy").map(Admin)
}

fn actor(principal: &Principal) -> String {
    format!("officer:{}", principal.subject)
}

fn sla_status(field: &str, error: SlaError) -> Status {
    invalid_argument(field, &error.to_string())
}

fn parse_date(raw: &str, field: &str) -> Result<NaiveDate, Status> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| invalid_argument(field, &format!("{raw:?} is not a date in the form YYYY-MM-DD")))
}

fn parse_scope(raw: &str, field: &str) -> Result<HolidayScope, Status> {
    let raw = if raw.trim().is_empty() { "national" } else { raw.trim() };
    HolidayScope::parse(raw).map_err(|message| invalid_argument(field, &message))
}

fn to_proto_holiday(h: &calendar::Holiday) -> Holiday {
    Holiday {
        date: h.date.format("%Y-%m-%d").to_string(),
        kind: h.kind.as_str().to_owned(),
        name: h.name.clone(),
        decree: h.decree.clone(),
        scope: h.scope.as_str().to_owned(),
    }
}

impl PolicyGrpc {
    /// One calendar change: lock, apply, audit, recompute, commit.
    async fn calendar_change<F>(
        &self,
        Admin(principal): &Admin,
        action: &str,
        detail: serde_json::Value,
        apply: F,
    ) -> Result<CalendarChange, Status>
    where
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> futures::future::BoxFuture<'t, Result<(), Status>>,
    {
        let txn = self.db.begin().await.map_err(unavailable)?;
        let outcome = async {
            lock_for_calendar_edit(&txn).await.map_err(unavailable)?;
            apply(&txn).await?;
            policy_store::audit(&txn, &actor(principal), action, detail)
                .await
                .map_err(unavailable)?;
            recompute_pending(&txn, &self.rules).await.map_err(unavailable)
        }
        .await;
        match outcome {
            Ok(moved) => {
                txn.commit().await.map_err(unavailable)?;
                tracing::info!(action, moved, actor = %principal.subject, "calendar changed");
                Ok(CalendarChange {
                    recomputed_deadlines: moved,
                })
            }
            Err(status) => {
                let _ = txn.rollback().await;
                Err(status)
            }
        }
    }

    /// One SLA change: apply and audit in a transaction, answer with the policy now in force.
    async fn sla_change<F>(
        &self,
        Admin(principal): &Admin,
        action: &str,
        detail: serde_json::Value,
        apply: F,
    ) -> Result<SlaPolicy, Status>
    where
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> futures::future::BoxFuture<'t, Result<(), Status>>,
    {
        let txn = self.db.begin().await.map_err(unavailable)?;
        let outcome = async {
            apply(&txn).await?;
            policy_store::audit(&txn, &actor(principal), action, detail)
                .await
                .map_err(unavailable)
        }
        .await;
        match outcome {
            Ok(()) => txn.commit().await.map_err(unavailable)?,
            Err(status) => {
                let _ = txn.rollback().await;
                return Err(status);
            }
        }
        tracing::info!(action, actor = %principal.subject, "SLA policy changed");
        self.sla_policy().await
    }

    async fn sla_policy(&self) -> Result<SlaPolicy, Status> {
        let policy = policy_store::sla_policy(&self.db).await.map_err(unavailable)?;
        Ok(SlaPolicy {
            rules: policy
                .rules
                .iter()
                .map(|((scope, stage), days)| SlaRule {
                    scope: scope.to_text(),
                    stage: stage.as_str().to_owned(),
                    working_days: *days,
                })
                .collect(),
            tiers: policy
                .tiers
                .iter()
                .map(|(code, days)| ComplexityTier {
                    code: code.clone(),
                    working_days: *days,
                })
                .collect(),
        })
    }

    /// The scope names something that exists: a category of the directory or a stored SKPD.
    async fn check_scope_target(&self, scope: &SlaScope) -> Result<(), Status> {
        match scope {
            SlaScope::Default => Ok(()),
            SlaScope::Category(code) if self.directory.get().has_category(code) => Ok(()),
            SlaScope::Category(code) => Err(invalid_argument("scope", &format!("unknown category {code:?}"))),
            SlaScope::Skpd(code) => {
                let calendars = policy_store::skpd_calendars(&self.db).await.map_err(unavailable)?;
                if calendars.iter().any(|s| &s.code == code) {
                    Ok(())
                } else {
                    Err(invalid_argument("scope", &format!("unknown skpd {code:?}")))
                }
            }
        }
    }
}

async fn exec_values(txn: &DatabaseTransaction, sql: &str, values: Vec<sea_orm::Value>) -> Result<u64, Status> {
    txn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
        .await
        .map(|r| r.rows_affected())
        .map_err(unavailable)
}

#[tonic::async_trait]
impl PolicyService for PolicyGrpc {
    async fn list_holidays(
        &self,
        request: Request<ListHolidaysRequest>,
    ) -> Result<Response<ListHolidaysResponse>, Status> {
        principal(&request)?;
        let year = request.into_inner().year;
        if year != 0 && !(calendar::MIN_YEAR..=calendar::MAX_YEAR).contains(&year) {
            return Err(invalid_argument(
                "year",
                &format!("must be 0 (all) or {}..={}", calendar::MIN_YEAR, calendar::MAX_YEAR),
            ));
        }
        let holidays = policy_store::holidays(&self.db, year).await.map_err(unavailable)?;
        Ok(Response::new(ListHolidaysResponse {
            holidays: holidays.iter().map(to_proto_holiday).collect(),
        }))
    }

    async fn add_holiday(&self, request: Request<AddHolidayRequest>) -> Result<Response<CalendarChange>, Status> {
        let caller = admin(&request)?;
        let raw = request
            .into_inner()
            .holiday
            .ok_or_else(|| invalid_argument("holiday", "is required"))?;
        let holiday = calendar::Holiday {
            date: parse_date(&raw.date, "holiday.date")?,
            kind: HolidayKind::parse(raw.kind.trim()).ok_or_else(|| {
                invalid_argument(
                    "holiday.kind",
                    &format!("{:?}: expected libur_nasional, cuti_bersama or libur_daerah", raw.kind),
                )
            })?,
            name: raw.name.trim().to_owned(),
            decree: raw.decree.trim().to_owned(),
            scope: parse_scope(&raw.scope, "holiday.scope")?,
        };
        if let HolidayScope::Kabupaten(code) = &holiday.scope
            && !self.directory.get().has_kabupaten(code)
        {
            return Err(invalid_argument(
                "holiday.scope",
                &format!("unknown kabupaten/kota {code:?}"),
            ));
        }
        let shown = to_proto_holiday(&holiday);
        let detail = json!({
            "date": shown.date, "scope": shown.scope, "kind": shown.kind, "name": shown.name, "decree": shown.decree,
        });
        let change = self
            .calendar_change(&caller, "add_holiday", detail, move |txn| {
                Box::pin(async move {
                    let existing = policy_store::holidays(txn, 0).await.map_err(unavailable)?;
                    calendar::validate_new_holiday(&existing, &holiday).map_err(|error| match error {
                        CalendarError::DuplicateHoliday { .. } => Status::already_exists(error.to_string()),
                        CalendarError::DateOutOfRange(_) => invalid_argument("holiday.date", &error.to_string()),
                        other => invalid_argument("holiday", &other.to_string()),
                    })?;
                    // A removed row at the same date and scope comes back with the new details.
                    exec_values(
                        txn,
                        "INSERT INTO holidays (date, scope, kind, name, decree) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (date, scope) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name, \
                         decree = EXCLUDED.decree, removed_at = NULL, updated_at = now()",
                        vec![
                            holiday.date.into(),
                            holiday.scope.as_str().to_owned().into(),
                            holiday.kind.as_str().into(),
                            holiday.name.clone().into(),
                            holiday.decree.clone().into(),
                        ],
                    )
                    .await?;
                    Ok(())
                })
            })
            .await?;
        Ok(Response::new(change))
    }

    async fn remove_holiday(&self, request: Request<RemoveHolidayRequest>) -> Result<Response<CalendarChange>, Status> {
        let caller = admin(&request)?;
        let r = request.into_inner();
        let date = parse_date(&r.date, "date")?;
        let scope = parse_scope(&r.scope, "scope")?;
        let detail = json!({"date": r.date.trim(), "scope": scope.as_str()});
        let change = self
            .calendar_change(&caller, "remove_holiday", detail, move |txn| {
                Box::pin(async move {
                    let removed = exec_values(
                        txn,
                        "UPDATE holidays SET removed_at = now(), updated_at = now() \
                         WHERE date = $1 AND scope = $2 AND removed_at IS NULL",
                        vec![date.into(), scope.as_str().to_owned().into()],
                    )
                    .await?;
                    if removed == 0 {
                        return Err(Status::not_found(format!("no holiday on {date} for scope {scope}")));
                    }
                    Ok(())
                })
            })
            .await?;
        Ok(Response::new(change))
    }

    async fn get_calendar_policy(
        &self,
        request: Request<GetCalendarPolicyRequest>,
    ) -> Result<Response<CalendarPolicy>, Status> {
        principal(&request)?;
        let stops = policy_store::cuti_bersama_stops_clock(&self.db)
            .await
            .map_err(unavailable)?;
        let skpds = policy_store::skpd_calendars(&self.db).await.map_err(unavailable)?;
        Ok(Response::new(CalendarPolicy {
            cuti_bersama_stops_clock: stops,
            skpds: skpds
                .into_iter()
                .map(|s| SkpdCalendar {
                    skpd_code: s.code,
                    work_days_per_week: s.work_days_per_week.max(0) as u32,
                    zone: s.zone,
                    kabupaten_code: s.kabupaten_code.unwrap_or_default(),
                })
                .collect(),
        }))
    }

    async fn set_calendar_policy(
        &self,
        request: Request<SetCalendarPolicyRequest>,
    ) -> Result<Response<CalendarChange>, Status> {
        let caller = admin(&request)?;
        let stops = request.into_inner().cuti_bersama_stops_clock;
        let change = self
            .calendar_change(
                &caller,
                "set_calendar_policy",
                json!({"cuti_bersama_stops_clock": stops}),
                move |txn| {
                    Box::pin(async move {
                        exec_values(
                            txn,
                            "UPDATE calendar_settings SET cuti_bersama_stops_clock = $1",
                            vec![stops.into()],
                        )
                        .await?;
                        Ok(())
                    })
                },
            )
            .await?;
        Ok(Response::new(change))
    }

    async fn set_skpd_calendar(
        &self,
        request: Request<SetSkpdCalendarRequest>,
    ) -> Result<Response<CalendarChange>, Status> {
        let caller = admin(&request)?;
        let r = request.into_inner();
        if !matches!(r.work_days_per_week, 5 | 6) {
            return Err(invalid_argument(
                "work_days_per_week",
                &format!("must be 5 or 6, got {}", r.work_days_per_week),
            ));
        }
        let zone = Zone::parse(r.zone.trim()).map_err(|e| invalid_argument("zone", &e.to_string()))?;
        let kabupaten = r.kabupaten_code.trim().to_owned();
        if !kabupaten.is_empty() && !self.directory.get().has_kabupaten(&kabupaten) {
            return Err(invalid_argument(
                "kabupaten_code",
                &format!("unknown kabupaten/kota {kabupaten:?}"),
            ));
        }
        let skpd = r.skpd_code.trim().to_owned();
        let detail = json!({"skpd": skpd, "work_days_per_week": r.work_days_per_week, "zone": zone.as_str(), "kabupaten": kabupaten});
        let days = r.work_days_per_week as i16;
        let change = self
            .calendar_change(&caller, "set_skpd_calendar", detail, move |txn| {
                Box::pin(async move {
                    let updated = exec_values(
                        txn,
                        "UPDATE skpds SET work_days_per_week = $2, zone = $3, kabupaten_code = NULLIF($4, '') \
                         WHERE code = $1",
                        vec![skpd.clone().into(), days.into(), zone.as_str().into(), kabupaten.into()],
                    )
                    .await?;
                    if updated == 0 {
                        return Err(Status::not_found(format!("no skpd {skpd:?}")));
                    }
                    Ok(())
                })
            })
            .await?;
        Ok(Response::new(change))
    }

    async fn get_sla_policy(&self, request: Request<GetSlaPolicyRequest>) -> Result<Response<SlaPolicy>, Status> {
        principal(&request)?;
        Ok(Response::new(self.sla_policy().await?))
    }

    async fn set_sla_rule(&self, request: Request<SlaRule>) -> Result<Response<SlaPolicy>, Status> {
        let caller = admin(&request)?;
        let r = request.into_inner();
        let scope = SlaScope::parse(r.scope.trim()).map_err(|e| sla_status("scope", e))?;
        let stage = SlaStage::parse(r.stage.trim()).map_err(|e| sla_status("stage", e))?;
        let days = check_working_days(i64::from(r.working_days)).map_err(|e| sla_status("working_days", e))?;
        self.check_scope_target(&scope).await?;
        let detail = json!({"scope": scope.to_text(), "stage": stage.as_str(), "working_days": days});
        let policy = self
            .sla_change(&caller, "set_sla_rule", detail, move |txn| {
                Box::pin(async move {
                    exec_values(
                        txn,
                        "INSERT INTO sla_rules (scope, stage, working_days) VALUES ($1, $2, $3) \
                         ON CONFLICT (scope, stage) DO UPDATE SET working_days = EXCLUDED.working_days, \
                         updated_at = now()",
                        vec![scope.to_text().into(), stage.as_str().into(), (days as i32).into()],
                    )
                    .await?;
                    Ok(())
                })
            })
            .await?;
        Ok(Response::new(policy))
    }

    async fn clear_sla_rule(&self, request: Request<ClearSlaRuleRequest>) -> Result<Response<SlaPolicy>, Status> {
        let caller = admin(&request)?;
        let r = request.into_inner();
        let scope = SlaScope::parse(r.scope.trim()).map_err(|e| sla_status("scope", e))?;
        let stage = SlaStage::parse(r.stage.trim()).map_err(|e| sla_status("stage", e))?;
        if scope == SlaScope::Default {
            return Err(sla_status("scope", SlaError::DefaultRequired));
        }
        let detail = json!({"scope": scope.to_text(), "stage": stage.as_str()});
        let policy = self
            .sla_change(&caller, "clear_sla_rule", detail, move |txn| {
                Box::pin(async move {
                    let removed = exec_values(
                        txn,
                        "DELETE FROM sla_rules WHERE scope = $1 AND stage = $2",
                        vec![scope.to_text().into(), stage.as_str().into()],
                    )
                    .await?;
                    if removed == 0 {
                        return Err(Status::not_found(format!(
                            "no SLA rule for {} {}",
                            scope.to_text(),
                            stage.as_str()
                        )));
                    }
                    Ok(())
                })
            })
            .await?;
        Ok(Response::new(policy))
    }

    async fn set_complexity_tier(&self, request: Request<ComplexityTier>) -> Result<Response<SlaPolicy>, Status> {
        let caller = admin(&request)?;
        let r = request.into_inner();
        let code = r.code.trim().to_owned();
        check_tier_code(&code).map_err(|e| sla_status("code", e))?;
        let days = check_working_days(i64::from(r.working_days)).map_err(|e| sla_status("working_days", e))?;
        let detail = json!({"code": code, "working_days": days});
        let policy = self
            .sla_change(&caller, "set_complexity_tier", detail, move |txn| {
                Box::pin(async move {
                    exec_values(
                        txn,
                        "INSERT INTO sla_tiers (code, working_days) VALUES ($1, $2) \
                         ON CONFLICT (code) DO UPDATE SET working_days = EXCLUDED.working_days, updated_at = now()",
                        vec![code.into(), (days as i32).into()],
                    )
                    .await?;
                    Ok(())
                })
            })
            .await?;
        Ok(Response::new(policy))
    }
}
