//! Staff's change to a patient's channel choice (the console's patient card): move a channel up
//! or down the patient's order, put the whole order as dragged, add or drop a channel, or open
//! and close one. The result is the same two lists `PUT /v1/patients` writes (`channels`,
//! `opted_out`), checked by the same rule ([`channel_list`]).

use medrelay_channels::ChannelKind;

use super::{FieldError, channel_list};

/// One change, as the card's form posts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelChange {
    /// The whole order, as dragged.
    Order(Vec<ChannelKind>),
    Up(ChannelKind),
    Down(ChannelKind),
    /// Into the order, last.
    Add(ChannelKind),
    /// Out of the order: not tried, though not closed by the patient.
    Remove(ChannelKind),
    OptOut(ChannelKind),
    OptIn(ChannelKind),
}

impl ChannelChange {
    /// `action` is `order`, or `<verb>:<channel>` (`up:sms`); `order` the channels as listed.
    pub fn parse(action: &str, order: &[String]) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if action == "order" {
            let order = channel_list("order", order, &mut errors);
            return if errors.is_empty() {
                Ok(Self::Order(order))
            } else {
                Err(errors)
            };
        }
        let bad = || {
            vec![FieldError::new(
                "action",
                "must be order or <verb>:<channel>",
            )]
        };
        let (verb, channel) = action.split_once(':').ok_or_else(bad)?;
        let channel: ChannelKind = channel.parse().map_err(|_| bad())?;
        Ok(match verb {
            "up" => Self::Up(channel),
            "down" => Self::Down(channel),
            "add" => Self::Add(channel),
            "remove" => Self::Remove(channel),
            "opt-out" => Self::OptOut(channel),
            "opt-in" => Self::OptIn(channel),
            _ => return Err(bad()),
        })
    }
}

/// The order a patient's notifications take: their own, else the clinic's.
pub fn order_in_effect(patient: &[ChannelKind], clinic: &[ChannelKind]) -> Vec<ChannelKind> {
    if patient.is_empty() {
        clinic.to_vec()
    } else {
        patient.to_vec()
    }
}

/// Applies `change` to the patient's order (`channels`, empty: the clinic's, `clinic`) and
/// opt-outs. A change of order writes the patient's own order from then on.
pub fn apply(
    change: &ChannelChange,
    channels: &mut Vec<ChannelKind>,
    opted_out: &mut Vec<ChannelKind>,
    clinic: &[ChannelKind],
) {
    let mut order = order_in_effect(channels, clinic);
    let at = |order: &[ChannelKind], c: ChannelKind| order.iter().position(|x| *x == c);
    match change {
        ChannelChange::Order(new) => order.clone_from(new),
        ChannelChange::Up(c) => {
            if let Some(i) = at(&order, *c).filter(|i| *i > 0) {
                order.swap(i, i - 1);
            }
        }
        ChannelChange::Down(c) => {
            if let Some(i) = at(&order, *c).filter(|i| i + 1 < order.len()) {
                order.swap(i, i + 1);
            }
        }
        ChannelChange::Add(c) => {
            if at(&order, *c).is_none() {
                order.push(*c);
            }
        }
        ChannelChange::Remove(c) => order.retain(|x| x != c),
        ChannelChange::OptOut(c) => {
            if !opted_out.contains(c) {
                opted_out.push(*c);
            }
            return;
        }
        ChannelChange::OptIn(c) => {
            opted_out.retain(|x| x != c);
            return;
        }
    }
    *channels = order;
}

#[cfg(test)]
mod tests {
    use super::ChannelChange::*;
    use super::*;
    use ChannelKind::{Email, Sms, Whatsapp};

    fn changed(change: ChannelChange, channels: &[ChannelKind]) -> Vec<ChannelKind> {
        let mut channels = channels.to_vec();
        apply(&change, &mut channels, &mut Vec::new(), &[Whatsapp, Sms]);
        channels
    }

    #[test]
    fn moving_a_channel_up_starts_from_the_clinics_order_when_the_patient_has_none() {
        assert_eq!(changed(Up(Sms), &[]), [Sms, Whatsapp]);
        assert_eq!(changed(Down(Sms), &[Email, Sms]), [Email, Sms]);
        assert_eq!(changed(Up(Whatsapp), &[]), [Whatsapp, Sms]);
    }

    #[test]
    fn an_opt_out_keeps_the_order_and_an_opt_in_undoes_it() {
        let (mut channels, mut out) = (vec![], vec![]);
        apply(&OptOut(Sms), &mut channels, &mut out, &[Whatsapp, Sms]);
        assert_eq!((channels.clone(), out.clone()), (vec![], vec![Sms]));
        apply(&OptIn(Sms), &mut channels, &mut out, &[Whatsapp, Sms]);
        assert!(out.is_empty());
    }

    #[test]
    fn a_dragged_order_is_checked_as_the_api_checks_channels() {
        let order = ["sms".to_owned(), "email".to_owned()];
        assert_eq!(
            ChannelChange::parse("order", &order),
            Ok(Order(vec![Sms, Email]))
        );
        let twice = ["sms".to_owned(), "sms".to_owned()];
        assert!(ChannelChange::parse("order", &twice).is_err());
        assert_eq!(
            ChannelChange::parse("opt-out:whatsapp", &[]),
            Ok(OptOut(Whatsapp))
        );
        assert!(ChannelChange::parse("up:fax", &[]).is_err());
    }
}
