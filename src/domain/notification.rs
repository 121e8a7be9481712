text_enum!(
    Priority {
        Normal = "normal",
        Urgent = "urgent",
    }
);

text_enum!(
    /// Whether an appointment is still on; a cancelled one keeps its history but sends nothing.
    /// A patient's reply to a reminder confirms it or asks to cancel it; either way it stays on
    /// (its reminders still go) until the booking system cancels it.
    AppointmentStatus {
        Booked = "booked",
        Cancelled = "cancelled",
        /// The patient confirmed they are coming.
        Confirmed = "confirmed",
        /// The patient asked to cancel; the booking system decides.
        CancellationRequested = "cancellation_requested",
    }
);

impl AppointmentStatus {
    /// Still on: its reminders go and it can be moved.
    pub fn is_on(self) -> bool {
        self != Self::Cancelled
    }
}

text_enum!(
    /// Where a notification stands. `delivered`, `read`, `failed`, `cancelled` and `expired` are
    /// terminal; `sent` is terminal for email, which has no delivery receipt.
    NotificationStatus {
        Scheduled = "scheduled",
        Queued = "queued",
        Sending = "sending",
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        Failed = "failed",
        Cancelled = "cancelled",
        Expired = "expired",
    }
);

text_enum!(
    /// Where one try on one channel stands.
    AttemptStatus {
        /// Being handed to the provider right now.
        Sending = "sending",
        /// The hand-over was interrupted (crash); the provider may or may not have it.
        Ambiguous = "ambiguous",
        /// The hand-over was interrupted before its request started: the provider never had it.
        /// Not a try; the channel is tried again at once.
        Unsent = "unsent",
        /// The provider asked us to slow down; tried again later, not counted as a failure.
        RateLimited = "rate_limited",
        /// A transient provider error; the channel is tried again after a backoff.
        Errored = "errored",
        Accepted = "accepted",
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        /// The channel cannot deliver this message.
        Failed = "failed",
        /// Accepted, but no delivery receipt came within the channel's delivery timeout.
        TimedOut = "timed_out",
    }
);

impl AttemptStatus {
    /// Progress order for provider evidence: statuses only ever move up this ladder.
    pub fn progress(self) -> u8 {
        match self {
            Self::Sending | Self::Ambiguous | Self::Unsent | Self::RateLimited | Self::Errored => 0,
            Self::Accepted => 1,
            Self::Sent => 2,
            Self::TimedOut => 3,
            Self::Failed => 4,
            Self::Delivered => 5,
            Self::Read => 6,
        }
    }

    pub fn is_delivered(self) -> bool {
        matches!(self, Self::Delivered | Self::Read)
    }

    /// The provider has the message and may still deliver it.
    pub fn is_in_flight(self) -> bool {
        matches!(
            self,
            Self::Sending | Self::Ambiguous | Self::Accepted | Self::Sent
        )
    }
}
