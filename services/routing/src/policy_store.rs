//! The working-day calendar and SLA policy as routing stores them: holidays, the cuti bersama
//! switch, each SKPD's work week, zone and kabupaten, SLA rules and complexity tiers. Read
//! fresh inside each transaction that plans a clock, so every replica sees an admin's edit at
//! once (the tables are a few dozen rows).

use lapor_domain::calendar::{CalendarPolicy, Holiday, HolidayKind, HolidayScope, WorkWeek, WorkingCalendar, Zone};
use lapor_domain::sla::{SlaPolicy, SlaScope, SlaStage};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

/// Inserts the seed holidays; rows already there (also removed ones) are left as they are,
/// so an admin's edits survive restarts and new seed years still arrive.
pub async fn seed_holidays(db: &DatabaseConnection, holidays: &[Holiday]) -> Result<(), DbErr> {
    for chunk in holidays.chunks(200) {
        let mut sql = String::from("INSERT INTO holidays (date, scope, kind, name, decree) VALUES ");
        let mut values = Vec::with_capacity(chunk.len() * 5);
        for (i, h) in chunk.iter().enumerate() {
            let n = i * 5;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(${}, ${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4, n + 5));
            values.extend([
                h.date.into(),
                h.scope.as_str().to_owned().into(),
                h.kind.as_str().into(),
                h.name.clone().into(),
                h.decree.clone().into(),
            ]);
        }
        sql.push_str(" ON CONFLICT (date, scope) DO NOTHING");
        db.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
            .await?;
    }
    Ok(())
}

/// The holidays in force (removed ones left out), oldest first; `year` 0 means all years.
pub async fn holidays(conn: &impl ConnectionTrait, year: i32) -> Result<Vec<Holiday>, DbErr> {
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT date, scope, kind, name, decree FROM holidays WHERE removed_at IS NULL \
             AND ($1 = 0 OR extract(year FROM date) = $1) ORDER BY date, scope",
            [year.into()],
        ))
        .await?;
    rows.into_iter()
        .map(|row| {
            let kind: String = row.try_get("", "kind")?;
            let scope: String = row.try_get("", "scope")?;
            Ok(Holiday {
                date: row.try_get("", "date")?,
                kind: HolidayKind::parse(&kind).ok_or_else(|| DbErr::Custom(format!("bad holiday kind {kind}")))?,
                name: row.try_get("", "name")?,
                decree: row.try_get("", "decree")?,
                scope: HolidayScope::parse(&scope).map_err(DbErr::Custom)?,
            })
        })
        .collect()
}

pub async fn cuti_bersama_stops_clock(conn: &impl ConnectionTrait) -> Result<bool, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT cuti_bersama_stops_clock FROM calendar_settings",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("calendar_settings".into()))?;
    row.try_get("", "cuti_bersama_stops_clock")
}

/// One SKPD's calendar settings as stored.
#[derive(Debug, Clone)]
pub struct SkpdCalendarRow {
    pub code: String,
    pub work_days_per_week: i16,
    pub zone: String,
    pub kabupaten_code: Option<String>,
}

impl SkpdCalendarRow {
    fn policy(&self, cuti_bersama_stops_clock: bool) -> CalendarPolicy {
        CalendarPolicy {
            cuti_bersama_stops_clock,
            work_week: if self.work_days_per_week == 6 {
                WorkWeek::SixDay
            } else {
                WorkWeek::FiveDay
            },
            // The column's CHECK admits only the three zones.
            zone: Zone::parse(&self.zone).unwrap_or(Zone::Wita),
        }
    }
}

pub async fn skpd_calendars(conn: &impl ConnectionTrait) -> Result<Vec<SkpdCalendarRow>, DbErr> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT code, work_days_per_week, zone, kabupaten_code FROM skpds ORDER BY code",
        ))
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(SkpdCalendarRow {
                code: row.try_get("", "code")?,
                work_days_per_week: row.try_get("", "work_days_per_week")?,
                zone: row.try_get("", "zone")?,
                kabupaten_code: row.try_get("", "kabupaten_code")?,
            })
        })
        .collect()
}

/// Every SKPD's working calendar, built from one read of the calendar tables.
pub struct Calendars {
    holidays: Vec<Holiday>,
    cuti_bersama_stops_clock: bool,
    skpds: Vec<SkpdCalendarRow>,
}

impl Calendars {
    pub async fn load(conn: &impl ConnectionTrait) -> Result<Self, DbErr> {
        Ok(Calendars {
            holidays: holidays(conn, 0).await?,
            cuti_bersama_stops_clock: cuti_bersama_stops_clock(conn).await?,
            skpds: skpd_calendars(conn).await?,
        })
    }

    /// The calendar of `skpd`; an SKPD missing from the table (it cannot be, by foreign key)
    /// gets the Kalsel default.
    pub fn of(&self, skpd: &str) -> WorkingCalendar {
        let row = self.skpds.iter().find(|s| s.code == skpd);
        let policy = row.map_or_else(
            || CalendarPolicy {
                cuti_bersama_stops_clock: self.cuti_bersama_stops_clock,
                ..CalendarPolicy::default()
            },
            |r| r.policy(self.cuti_bersama_stops_clock),
        );
        WorkingCalendar::new(&self.holidays, policy, row.and_then(|r| r.kabupaten_code.as_deref()))
    }
}

pub async fn sla_policy(conn: &impl ConnectionTrait) -> Result<SlaPolicy, DbErr> {
    let mut policy = SlaPolicy::default();
    for row in conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT scope, stage, working_days FROM sla_rules",
        ))
        .await?
    {
        let scope: String = row.try_get("", "scope")?;
        let stage: String = row.try_get("", "stage")?;
        let days: i32 = row.try_get("", "working_days")?;
        let scope = SlaScope::parse(&scope).map_err(|e| DbErr::Custom(e.to_string()))?;
        let stage = SlaStage::parse(&stage).map_err(|e| DbErr::Custom(e.to_string()))?;
        policy.rules.insert((scope, stage), days.max(1) as u32);
    }
    for row in conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT code, working_days FROM sla_tiers",
        ))
        .await?
    {
        let days: i32 = row.try_get("", "working_days")?;
        policy.tiers.insert(row.try_get("", "code")?, days.max(1) as u32);
    }
    Ok(policy)
}

/// Records a calendar or SLA change in the append-only policy audit.
pub async fn audit(
    conn: &impl ConnectionTrait,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO policy_audit (actor, action, detail) VALUES ($1, $2, $3)",
        [actor.into(), action.into(), detail.into()],
    ))
    .await?;
    Ok(())
}
