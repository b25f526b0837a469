//! Who hears of a `complaint.escalated.<level>.<skpd>`: each of the event's `notify_roles`
//! names an audience. "penghubung", "koordinator" and "kepala" are the officers of that role
//! in the SKPD holding the case; "admin" and "pimpinan" are the provincial officers of that
//! role, whichever SKPD their record sits in (the seed puts them under diskominfo).

use crate::entity::recipient;
use lapor_domain::reference::OfficerRole;
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Officers of this role in the escalated SKPD.
    Skpd(OfficerRole),
    /// Officers of this role anywhere: the province's admins and leaders.
    Provincial(OfficerRole),
}

impl Audience {
    /// `None` for a role this service does not know; the caller logs and skips it.
    pub fn parse(role: &str) -> Option<Audience> {
        match role {
            "penghubung" => Some(Audience::Skpd(OfficerRole::Penghubung)),
            "koordinator" => Some(Audience::Skpd(OfficerRole::Koordinator)),
            "kepala" => Some(Audience::Skpd(OfficerRole::Kepala)),
            "admin" => Some(Audience::Provincial(OfficerRole::Admin)),
            "pimpinan" => Some(Audience::Provincial(OfficerRole::Pimpinan)),
            _ => None,
        }
    }

    pub fn includes(self, officer: &recipient::Model, skpd_code: &str) -> bool {
        match self {
            Audience::Skpd(role) => officer.role == role.as_str() && officer.skpd_code == skpd_code,
            Audience::Provincial(role) => officer.role == role.as_str(),
        }
    }
}

/// The audiences named by `notify_roles`, without repeats, and the role names not understood.
pub fn audiences(notify_roles: &[String]) -> (Vec<Audience>, Vec<&str>) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for role in notify_roles {
        match Audience::parse(role.trim()) {
            Some(audience) if !known.contains(&audience) => known.push(audience),
            Some(_) => {}
            None => unknown.push(role.as_str()),
        }
    }
    (known, unknown)
}

/// The candidates that belong to any audience, in audience order (then candidate order), each
/// person once: a repeated recipient id or e-mail address (one person holding two roles, or
/// two records sharing a mailbox) gets a single message.
pub fn resolve(audiences: &[Audience], skpd_code: &str, candidates: &[recipient::Model]) -> Vec<recipient::Model> {
    let mut seen_ids = HashSet::new();
    let mut seen_addresses = HashSet::new();
    let mut chosen = Vec::new();
    for audience in audiences {
        for officer in candidates.iter().filter(|o| audience.includes(o, skpd_code)) {
            let address = officer.email.trim().to_lowercase();
            if seen_ids.contains(officer.id.as_str()) || seen_addresses.contains(&address) {
                continue;
            }
            seen_ids.insert(officer.id.as_str());
            seen_addresses.insert(address);
            chosen.push(officer.clone());
        }
    }
    chosen
}

/// Loads the officers that may belong to `audiences` and resolves them (see [`resolve`]).
pub async fn recipients(
    txn: &DatabaseTransaction,
    audiences: &[Audience],
    skpd_code: &str,
) -> Result<Vec<recipient::Model>, DbErr> {
    if audiences.is_empty() {
        return Ok(Vec::new());
    }
    let mut condition = Condition::any();
    for audience in audiences {
        condition = condition.add(match *audience {
            Audience::Skpd(role) => Condition::all()
                .add(recipient::Column::Role.eq(role.as_str()))
                .add(recipient::Column::SkpdCode.eq(skpd_code)),
            Audience::Provincial(role) => Condition::all().add(recipient::Column::Role.eq(role.as_str())),
        });
    }
    let candidates = recipient::Entity::find()
        .filter(condition)
        .order_by_asc(recipient::Column::Id)
        .all(txn)
        .await?;
    Ok(resolve(audiences, skpd_code, &candidates))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn officer(id: &str, skpd: &str, role: &str) -> recipient::Model {
        recipient::Model {
            id: id.into(),
            name: id.into(),
            skpd_code: skpd.into(),
            role: role.into(),
            email: format!("{id}@example.id"),
            phone: String::new(),
            sub_unit: None,
            channels: "both".into(),
            lang: "id".into(),
            quiet_start: None,
            quiet_end: None,
            updated_at: chrono::Utc::now(),
        }
    }

    fn directory() -> Vec<recipient::Model> {
        vec![
            officer("diskominfo-penghubung1", "diskominfo", "penghubung"),
            officer("diskominfo-kepala", "diskominfo", "kepala"),
            officer("dinkes-penghubung1", "dinkes", "penghubung"),
            officer("dinkes-penghubung2", "dinkes", "penghubung"),
            officer("dinkes-koordinator", "dinkes", "koordinator"),
            officer("dinkes-kepala", "dinkes", "kepala"),
            officer("prov-admin", "diskominfo", "admin"),
            officer("prov-sekda", "diskominfo", "pimpinan"),
        ]
    }

    fn ids(recipients: &[recipient::Model]) -> Vec<&str> {
        recipients.iter().map(|r| r.id.as_str()).collect()
    }

    fn roles(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn skpd_roles_stay_inside_the_skpd() {
        let named = roles(&["penghubung"]);
        let (audiences, unknown) = audiences(&named);
        assert!(unknown.is_empty());
        assert_eq!(
            ids(&resolve(&audiences, "dinkes", &directory())),
            ["dinkes-penghubung1", "dinkes-penghubung2"]
        );
    }

    #[test]
    fn breach_reaches_kepala_and_koordinator() {
        let (audiences, _) = audiences(&roles(&["kepala", "koordinator"]));
        assert_eq!(
            ids(&resolve(&audiences, "dinkes", &directory())),
            ["dinkes-kepala", "dinkes-koordinator"]
        );
    }

    #[test]
    fn provincial_roles_are_found_in_any_skpd() {
        let (audiences, _) = audiences(&roles(&["admin", "pimpinan"]));
        assert_eq!(
            ids(&resolve(&audiences, "dinkes", &directory())),
            ["prov-admin", "prov-sekda"]
        );
    }

    #[test]
    fn everyone_once() {
        let mut directory = directory();
        // The kepala also has a second record under the same mailbox.
        let mut twin = officer("dinkes-kepala-plt", "dinkes", "koordinator");
        twin.email = "DINKES-KEPALA@example.id".into();
        directory.push(twin);
        let named = roles(&["kepala", "koordinator", "kepala", "admin", "admin", "bupati"]);
        let (audiences, unknown) = audiences(&named);
        assert_eq!(unknown, ["bupati"]);
        assert_eq!(audiences.len(), 3);
        assert_eq!(
            ids(&resolve(&audiences, "dinkes", &directory)),
            ["dinkes-kepala", "dinkes-koordinator", "prov-admin"]
        );
    }

    #[test]
    fn nothing_named_nobody_notified() {
        let (audiences, _) = audiences(&[]);
        assert!(resolve(&audiences, "dinkes", &directory()).is_empty());
    }
}
