//! A push as a FHIR R4 `transaction` Bundle: every resource a conditional update on its
//! identifier (`PUT CommunicationRequest?identifier=<system>|<value>`), which creates it on the
//! clinic's server when no resource has the identifier and updates it when one has. So a push
//! sent again (after a timeout whose answer was lost, after a crash) changes nothing, and a
//! record that changed (delivered, read, its text redacted) updates the same resource.
//!
//! Why not `POST` with `ifNoneExist`: it only creates, so a Communication first pushed while
//! `in-progress` would never become `completed`. A conditional update does both in one request.
//!
//! References: a resource of the same Bundle is referenced by its entry's `urn:uuid:` fullUrl,
//! which the server replaces with the id it gives the resource. One outside it (the message of
//! ours a patient answered, pushed in its own Bundle) is referenced logically, by its
//! identifier: that needs no resolution, so a push never fails because another record is not on
//! the server (yet, or because it predates the server's set-up). The patient is named by
//! identifier already. The resources' own ids and meta are medrelay's, so they are left out.

use std::collections::HashMap;

use fhirbolt::model::r4::Resource;
use fhirbolt::model::r4::resources::{
    Bundle, BundleEntry, BundleEntryRequest, Communication, CommunicationRequest,
};
use fhirbolt::model::r4::types::{Identifier, Reference};

use crate::fhir::{Identifiers, our_id};

/// One resource of a push.
pub(super) enum Pushed {
    Request(CommunicationRequest),
    Communication(Communication),
}

#[derive(Debug, thiserror::Error)]
#[error("a {0} has no identifier with a system and a value")]
pub(super) struct NoIdentifier(&'static str);

/// The transaction Bundle of `resources`, in their order.
pub(super) fn transaction(
    resources: Vec<Pushed>,
    ids: &Identifiers,
) -> Result<Bundle, NoIdentifier> {
    let full_urls: HashMap<String, String> = resources
        .iter()
        .filter_map(|r| Some((r.local_reference()?, urn_uuid())))
        .collect();
    let entry = resources
        .into_iter()
        .map(|mut resource| {
            let full_url = resource
                .local_reference()
                .and_then(|r| full_urls.get(&r).cloned())
                .unwrap_or_else(urn_uuid);
            resource.relink(&full_urls, ids);
            let url = resource.conditional_url()?;
            Ok(BundleEntry {
                full_url: Some(full_url.into()),
                resource: Some(resource.into_resource()),
                request: Some(BundleEntryRequest {
                    method: "PUT".into(),
                    url: url.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Bundle {
        r#type: "transaction".into(),
        entry,
        ..Default::default()
    })
}

impl Pushed {
    fn type_name(&self) -> &'static str {
        match self {
            Self::Request(_) => "CommunicationRequest",
            Self::Communication(_) => "Communication",
        }
    }

    /// `CommunicationRequest/<id>`: how the other resources of the record reference it.
    fn local_reference(&self) -> Option<String> {
        let id = match self {
            Self::Request(r) => r.id.as_ref(),
            Self::Communication(c) => c.id.as_ref(),
        };
        Some(format!("{}/{}", self.type_name(), id?.value.as_ref()?))
    }

    fn identifiers(&self) -> &[Identifier] {
        match self {
            Self::Request(r) => &r.identifier,
            Self::Communication(c) => &c.identifier,
        }
    }

    /// `<Type>?identifier=<system>|<value>`, each part percent-encoded.
    fn conditional_url(&self) -> Result<String, NoIdentifier> {
        let (system, value) = self
            .identifiers()
            .iter()
            .find_map(|i| {
                Some((
                    i.system.as_ref()?.value.as_ref()?,
                    i.value.as_ref()?.value.as_ref()?,
                ))
            })
            .ok_or(NoIdentifier(self.type_name()))?;
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        Ok(format!(
            "{}?identifier={}|{}",
            self.type_name(),
            encode(system),
            encode(value)
        ))
    }

    /// Points its references at the Bundle's entries, or at identifiers; drops its id and meta.
    fn relink(&mut self, full_urls: &HashMap<String, String>, ids: &Identifiers) {
        let references: Vec<&mut Reference> = match self {
            Self::Request(r) => {
                r.id = None;
                r.meta = None;
                r.based_on.iter_mut().chain(r.replaces.iter_mut()).collect()
            }
            Self::Communication(c) => {
                c.id = None;
                c.meta = None;
                (c.based_on.iter_mut())
                    .chain(c.part_of.iter_mut())
                    .chain(c.in_response_to.iter_mut())
                    .collect()
            }
        };
        for reference in references {
            relink(reference, full_urls, ids);
        }
    }

    fn into_resource(self) -> Resource {
        match self {
            Self::Request(r) => Resource::CommunicationRequest(Box::new(r)),
            Self::Communication(c) => Resource::Communication(Box::new(c)),
        }
    }
}

fn relink(reference: &mut Reference, full_urls: &HashMap<String, String>, ids: &Identifiers) {
    let Some(target) = reference.reference.as_ref().and_then(|r| r.value.clone()) else {
        return;
    };
    if let Some(full_url) = full_urls.get(&target) {
        reference.reference = Some(full_url.as_str().into());
        return;
    }
    let Some((type_name, id)) = target.split_once('/') else {
        return;
    };
    let ours = our_id(id);
    let system = match ours.split_once('_') {
        Some(("ntf", _)) => ids.notification(),
        Some(("att", _)) => ids.attempt(),
        Some(("msg", _)) => ids.message(),
        _ => return,
    };
    reference.reference = None;
    reference.r#type = Some(type_name.into());
    reference.identifier = Some(Box::new(Identifier {
        system: Some(system.into()),
        value: Some(ours.into()),
        ..Default::default()
    }));
}

fn urn_uuid() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Identifiers {
        Identifiers::new("hadar", Some("https://hadar.example/ids"), None)
    }

    fn identifier(system: String, value: &str) -> Vec<Identifier> {
        vec![Identifier {
            system: Some(system.into()),
            value: Some(value.into()),
            ..Default::default()
        }]
    }

    fn reference(to: &str) -> Reference {
        Reference {
            reference: Some(to.into()),
            ..Default::default()
        }
    }

    fn record() -> Vec<Pushed> {
        let request = CommunicationRequest {
            id: Some("ntf-01".into()),
            identifier: identifier(ids().notification(), "ntf_01"),
            status: "active".into(),
            ..Default::default()
        };
        let communication = Communication {
            id: Some("att-01".into()),
            identifier: identifier(ids().attempt(), "att_01"),
            based_on: vec![reference("CommunicationRequest/ntf-01")],
            in_response_to: vec![reference("Communication/msg-07")],
            status: "in-progress".into(),
            ..Default::default()
        };
        vec![
            Pushed::Request(request),
            Pushed::Communication(communication),
        ]
    }

    fn value<T: Clone + Into<Option<String>>>(v: Option<T>) -> Option<String> {
        v.and_then(Into::into)
    }

    #[test]
    fn every_resource_is_a_conditional_update_on_its_identifier() {
        let bundle = transaction(record(), &ids()).expect("bundle");
        assert_eq!(bundle.r#type.value.as_deref(), Some("transaction"));
        let urls: Vec<_> = bundle
            .entry
            .iter()
            .map(|e| {
                let request = e.request.as_ref().expect("request");
                (request.method.value.clone(), request.url.value.clone())
            })
            .collect();
        assert_eq!(
            urls,
            [
                (
                    Some("PUT".to_owned()),
                    Some(
                        "CommunicationRequest?identifier=https%3A%2F%2Fhadar.example%2Fids%2Fnotification|ntf_01"
                            .to_owned()
                    )
                ),
                (
                    Some("PUT".to_owned()),
                    Some(
                        "Communication?identifier=https%3A%2F%2Fhadar.example%2Fids%2Fattempt|att_01"
                            .to_owned()
                    )
                ),
            ]
        );
    }

    #[test]
    fn the_request_is_referenced_by_its_entry_and_a_message_outside_by_identifier() {
        let bundle = transaction(record(), &ids()).expect("bundle");
        let request_url =
            value(bundle.entry[0].full_url.clone().map(|u| u.value)).expect("full url");
        assert!(request_url.starts_with("urn:uuid:"));
        let Some(Resource::Communication(communication)) = &bundle.entry[1].resource else {
            panic!("a Communication");
        };
        assert_eq!(communication.id, None);
        let based_on = &communication.based_on[0];
        assert_eq!(
            value(based_on.reference.clone().map(|r| r.value)),
            Some(request_url)
        );
        let answered = &communication.in_response_to[0];
        assert_eq!(answered.reference, None);
        assert_eq!(
            value(answered.r#type.clone().map(|t| t.value)).as_deref(),
            Some("Communication")
        );
        let identifier = answered.identifier.as_ref().expect("identifier");
        assert_eq!(
            value(identifier.value.clone().map(|v| v.value)).as_deref(),
            Some("msg_07")
        );
        assert_eq!(
            value(identifier.system.clone().map(|s| s.value)),
            Some(ids().message())
        );
    }

    #[test]
    fn a_resource_without_an_identifier_is_refused() {
        let bare = Pushed::Communication(Communication::default());
        assert!(transaction(vec![bare], &ids()).is_err());
    }
}
