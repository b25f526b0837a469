//! Case states (DESIGN §2) with their public labels.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CaseState {
    Submitted,
    Verified,
    Assigned,
    InProgress,
    FollowedUp,
    Closed,
    OnHold,
    Archived,
    RejectedNotAuthority,
}

impl CaseState {
    pub const ALL: [CaseState; 9] = [
        CaseState::Submitted,
        CaseState::Verified,
        CaseState::Assigned,
        CaseState::InProgress,
        CaseState::FollowedUp,
        CaseState::Closed,
        CaseState::OnHold,
        CaseState::Archived,
        CaseState::RejectedNotAuthority,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Submitted => "submitted",
            CaseState::Verified => "verified",
            CaseState::Assigned => "assigned",
            CaseState::InProgress => "in_progress",
            CaseState::FollowedUp => "followed_up",
            CaseState::Closed => "closed",
            CaseState::OnHold => "on_hold",
            CaseState::Archived => "archived",
            CaseState::RejectedNotAuthority => "rejected_not_authority",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The label the public status page shows (Bahasa Indonesia, as LAPOR! does).
    pub fn public_label(self) -> &'static str {
        match self {
            CaseState::Submitted => "Belum Terverifikasi",
            CaseState::Verified | CaseState::Assigned => "Belum Ditindaklanjuti",
            CaseState::InProgress => "Proses",
            CaseState::FollowedUp => "Ditindaklanjuti",
            CaseState::Closed => "Selesai",
            CaseState::OnHold => "Ditunda",
            CaseState::Archived => "Diarsipkan",
            CaseState::RejectedNotAuthority => "Bukan Wewenang",
        }
    }

    /// [`CaseState::public_label`] in English.
    pub fn public_label_en(self) -> &'static str {
        match self {
            CaseState::Submitted => "Not yet verified",
            CaseState::Verified | CaseState::Assigned => "Awaiting follow-up",
            CaseState::InProgress => "In progress",
            CaseState::FollowedUp => "Followed up",
            CaseState::Closed => "Completed",
            CaseState::OnHold => "On hold",
            CaseState::Archived => "Archived",
            CaseState::RejectedNotAuthority => "Not within authority",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for state in CaseState::ALL {
            assert_eq!(CaseState::parse(state.as_str()), Some(state));
        }
        assert_eq!(CaseState::parse("nonsense"), None);
    }
}
