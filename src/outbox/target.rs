//! Where an outbox may deliver (webhooks to the booking system, pushes to the clinic's FHIR
//! server): `https://` anywhere public; loopback, private-range and link-local targets (and plain
//! `http://` to them) only when the outbox's `allow_private_targets` is set. Checked on the URL
//! when a target is saved, and on every address a host name resolves to when a request is sent,
//! so a name cannot later point the gateway at the clinic's own network.

use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("must be an absolute https:// URL with a host")]
    NotUrl,
    #[error("must use https:// (plain http:// only to loopback, with {0})")]
    NotHttps(&'static str),
    #[error(
        "must not point at a loopback, private-range or link-local address unless the gateway \
         allows it ({0})"
    )]
    Private(&'static str),
    #[error("must not carry a user name or password")]
    Credentials,
}

/// Which targets one outbox may deliver to.
#[derive(Debug, Clone, Copy)]
pub struct TargetRule {
    pub allow_private: bool,
    /// The setting that allows private targets, named in refusals.
    pub setting: &'static str,
}

impl TargetRule {
    pub fn new(allow_private: bool, setting: &'static str) -> Self {
        Self {
            allow_private,
            setting,
        }
    }
}

/// Checks a target URL before it is saved.
pub fn check_target(url: &str, rule: TargetRule) -> Result<Url, TargetError> {
    let parsed = Url::parse(url).map_err(|_| TargetError::NotUrl)?;
    let host = parsed.host().ok_or(TargetError::NotUrl)?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(TargetError::Credentials);
    }
    let (private, loopback) = match host {
        Host::Ipv4(ip) => (is_private(ip.into()), ip.is_loopback()),
        Host::Ipv6(ip) => (is_private(ip.into()), ip.is_loopback()),
        Host::Domain(name) => {
            let local = name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost");
            (local, local)
        }
    };
    if private && !rule.allow_private {
        return Err(TargetError::Private(rule.setting));
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(TargetError::NotHttps(rule.setting)),
    }
}

/// Loopback, private-range (RFC 1918, unique local), link-local, carrier-grade NAT, unspecified
/// or multicast: nothing a system on the internet lives at.
pub fn is_private(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Resolves host names for an outbox's client and drops the addresses [`is_private`] refuses
/// (unless allowed), so a request to a name that resolves only there fails to connect.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found
                .filter(|addr| allow_private || !is_private(addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(format!(
                    "{} resolves to no address the gateway may deliver to",
                    name.as_str()
                )
                .into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTING: &str = "webhooks.allow_private_targets";

    fn rule(allow_private: bool) -> TargetRule {
        TargetRule::new(allow_private, SETTING)
    }

    #[test]
    fn public_https_targets_pass_and_plain_http_does_not() {
        assert!(check_target("https://booking.example/hooks", rule(false)).is_ok());
        assert_eq!(
            check_target("http://booking.example/hooks", rule(false)),
            Err(TargetError::NotHttps(SETTING))
        );
        assert_eq!(
            check_target("ftp://x", rule(false)),
            Err(TargetError::NotHttps(SETTING))
        );
        assert_eq!(
            check_target("/hooks", rule(false)),
            Err(TargetError::NotUrl)
        );
    }

    #[test]
    fn private_and_link_local_targets_need_the_setting() {
        for url in [
            "https://10.1.2.3/h",
            "https://192.168.0.5/h",
            "https://169.254.169.254/latest",
            "https://[fe80::1]/h",
            "https://[fd00::1]/h",
            "https://127.0.0.1/h",
            "https://localhost/h",
        ] {
            assert_eq!(
                check_target(url, rule(false)),
                Err(TargetError::Private(SETTING)),
                "{url}"
            );
            assert!(check_target(url, rule(true)).is_ok(), "{url}");
        }
        assert!(check_target("http://127.0.0.1:8080/h", rule(true)).is_ok());
        assert_eq!(
            check_target("http://10.0.0.1/h", rule(true)),
            Err(TargetError::NotHttps(SETTING))
        );
    }

    #[test]
    fn credentials_in_the_url_are_refused() {
        assert_eq!(
            check_target("https://user:pw@booking.example/h", rule(false)),
            Err(TargetError::Credentials)
        );
    }
}
