//! Channel adapters for medrelay.
//!
//! The contract, in one screen: the gateway hands an adapter an [`OutgoingMessage`] for one
//! [`Recipient`] on one [`ChannelKind`]; the adapter talks to its provider and answers with a
//! [`SendOutcome`]: accepted (with the provider's message id), retry later, rate limited, or
//! permanent. Later delivery evidence arrives as a [`ProviderStatus`].
//!
//! Adapters know providers and nothing else: no patients, no policies, no database.

mod channel;
mod http;
pub mod markup;
mod message;
mod outcome;
mod secret;
pub mod segments;
pub mod smtp;
pub mod twilio;
pub mod whatsapp;

pub use channel::{Channel, ChannelKind, ParseChannelError, SendFuture};
pub use message::{OutgoingMessage, ProviderTemplate, Recipient};
pub use outcome::{DeliveryState, ProviderStatus, RecipientFact, SendOutcome};
pub use secret::Secret;
