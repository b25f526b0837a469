//! Message texts. Bahasa Indonesia, plain text, short enough to read on a phone.

use lapor_proto::events::v1::ComplaintAssigned;

pub struct Rendered {
    pub subject: String,
    pub body: String,
}

pub fn assigned_email(
    recipient_name: &str,
    tracking_id: &str,
    assigned: &ComplaintAssigned,
    console_url: &str,
) -> Rendered {
    Rendered {
        subject: format!("[LAPOR] Aduan baru {tracking_id} untuk {}", assigned.skpd_name),
        body: format!(
            "Yth. {recipient_name},\n\n\
             Aduan baru telah didisposisikan ke {skpd}.\n\n\
             Nomor pelacakan : {tracking_id}\n\
             Judul           : {title}\n\
             Kategori        : {category}\n\
             Kabupaten/kota  : {kabupaten}\n\n\
             Silakan tindak lanjuti dalam 5 hari kerja melalui konsol petugas:\n\
             {console_url}/cases/{tracking_id}\n\n\
             -- LAPOR! Provinsi Kalimantan Selatan (pesan otomatis, jangan dibalas)\n",
            skpd = assigned.skpd_name,
            title = assigned.title,
            category = assigned.category_code,
            kabupaten = assigned.kabupaten_code,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigned_email_names_the_case() {
        let assigned = ComplaintAssigned {
            skpd_code: "dinkes".into(),
            skpd_name: "Dinas Kesehatan".into(),
            title: "Antrian puskesmas".into(),
            category_code: "kesehatan.puskesmas".into(),
            kabupaten_code: "6371".into(),
            ..Default::default()
        };
        let rendered = assigned_email("Rina", "AB3DEF7H9K", &assigned, "http://localhost:8081");
        assert!(rendered.subject.contains("AB3DEF7H9K"));
        assert!(rendered.body.contains("Antrian puskesmas"));
        assert!(rendered.body.contains("http://localhost:8081/cases/AB3DEF7H9K"));
    }
}
