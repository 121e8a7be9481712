text_enum!(
    /// Where a staff callback task stands in the queue.
    CallbackStatus {
        Open = "open",
        Claimed = "claimed",
        Closed = "closed",
    }
);

text_enum!(
    /// How a staff callback ended.
    CallbackOutcome {
        /// Staff spoke with the patient and passed the message on.
        Reached = "reached",
        /// No answer after trying.
        Unreachable = "unreachable",
        /// The number does not belong to the patient.
        WrongNumber = "wrong_number",
    }
);
