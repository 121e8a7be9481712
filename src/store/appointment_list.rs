//! `GET /v1/appointments`: a clinic's appointments by patient or by day, in time order, a page
//! at a time, each with its reminders (read for the whole page at once).

use std::collections::HashMap;

use jiff::Timestamp;

use super::appointments::{REMINDER_COLUMNS, ReminderRow, VIEW_SELECT, ViewRow};
use super::{Store, StoreError, millis, placeholders};
use crate::domain::{AppointmentStatus, ClinicId};
use crate::store::{AppointmentView, ReminderView};

/// Which appointments a page holds.
#[derive(Debug, Clone)]
pub struct AppointmentFilter {
    /// The booking system's id of the patient.
    pub patient_id: Option<String>,
    /// Starting in `[from, to)`: a day of the clinic's calendar.
    pub starts: Option<(Timestamp, Timestamp)>,
    pub status: Option<AppointmentStatus>,
    pub limit: u32,
    pub after: Option<AppointmentCursor>,
}

/// Where a page continues: after this start, then this id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentCursor {
    pub starts_at: i64,
    pub id: String,
}

#[derive(Debug, Clone)]
pub struct AppointmentPage {
    pub items: Vec<AppointmentView>,
    pub next: Option<AppointmentCursor>,
}

/// A reminder with the appointment it belongs to.
#[derive(sqlx::FromRow)]
struct ListedReminder {
    appointment_id: String,
    #[sqlx(flatten)]
    reminder: ReminderRow,
}

/// A condition with its values, in placeholder order.
#[derive(Default)]
struct Conditions {
    sql: String,
    values: Vec<Value>,
}

enum Value {
    Text(String),
    Number(i64),
}

impl Conditions {
    fn add(&mut self, sql: &str, values: impl IntoIterator<Item = Value>) {
        let mut sql = sql.to_owned();
        for value in values {
            // `$1` is the clinic; each `?` becomes the next number.
            let number = self.values.len() + 2;
            sql = sql.replacen('?', &format!("${number}"), 1);
            self.values.push(value);
        }
        self.sql.push_str(&sql);
    }
}

impl AppointmentFilter {
    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        if let Some(patient) = &self.patient_id {
            c.add(" AND p.external_id = ?", [Value::Text(patient.clone())]);
        }
        if let Some((from, to)) = self.starts {
            let range = [Value::Number(millis(from)), Value::Number(millis(to))];
            c.add(" AND a.starts_at >= ? AND a.starts_at < ?", range);
        }
        if let Some(status) = self.status {
            c.add(
                " AND a.status = ?",
                [Value::Text(status.as_str().to_owned())],
            );
        }
        if let Some(after) = &self.after {
            let at = after.starts_at;
            c.add(
                " AND (a.starts_at > ? OR (a.starts_at = ? AND a.id > ?))",
                [
                    Value::Number(at),
                    Value::Number(at),
                    Value::Text(after.id.clone()),
                ],
            );
        }
        c
    }
}

impl Store {
    /// A page of the clinic's appointments that match `filter`, earliest first.
    pub async fn appointments(
        &self,
        clinic: &ClinicId,
        filter: &AppointmentFilter,
    ) -> Result<AppointmentPage, StoreError> {
        let conditions = filter.conditions();
        let sql = format!(
            "{VIEW_SELECT} WHERE a.clinic_id = $1{} ORDER BY a.starts_at, a.id LIMIT {}",
            conditions.sql,
            u64::from(filter.limit) + 1
        );
        let mut query = sqlx::query_as::<_, ViewRow>(&sql).bind(clinic.as_str());
        for value in conditions.values {
            query = match value {
                Value::Text(text) => query.bind(text),
                Value::Number(number) => query.bind(number),
            };
        }
        let mut rows = query.fetch_all(&self.read).await?;
        let more = rows.len() > filter.limit as usize;
        rows.truncate(filter.limit as usize);
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut reminders = self.reminders_of(clinic, &ids).await?;
        let items = rows
            .into_iter()
            .map(|row| {
                let own = reminders.remove(&row.id).unwrap_or_default();
                row.view(own)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = more
            .then(|| items.last())
            .flatten()
            .map(|last| AppointmentCursor {
                starts_at: millis(last.starts_at),
                id: last.id.as_str().to_owned(),
            });
        Ok(AppointmentPage { items, next })
    }

    /// The reminders of the appointments `ids`, oldest first, by appointment.
    async fn reminders_of(
        &self,
        clinic: &ClinicId,
        ids: &[&str],
    ) -> Result<HashMap<String, Vec<ReminderView>>, StoreError> {
        let mut by_appointment: HashMap<String, Vec<ReminderView>> = HashMap::new();
        if ids.is_empty() {
            return Ok(by_appointment);
        }
        let sql = format!(
            "SELECT appointment_id, {REMINDER_COLUMNS} FROM notifications \
             WHERE clinic_id = $1 AND appointment_id IN ({}) \
             AND reminder_minutes_before IS NOT NULL ORDER BY created_at, id",
            placeholders(2, ids.len())
        );
        let mut query = sqlx::query_as::<_, ListedReminder>(&sql).bind(clinic.as_str());
        for id in ids {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&self.read).await? {
            by_appointment
                .entry(row.appointment_id)
                .or_default()
                .push(row.reminder.view()?);
        }
        Ok(by_appointment)
    }
}
