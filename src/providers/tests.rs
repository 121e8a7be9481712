use super::*;

fn whatsapp(phone_number_id: &str) -> WhatsAppConfig {
    WhatsAppConfig {
        base_url: "https://graph.facebook.com".to_owned(),
        api_version: "v23.0".to_owned(),
        phone_number_id: phone_number_id.to_owned(),
        access_token: Secret::new("token"),
        app_secret: Secret::new("secret"),
        verify_token: Secret::new("verify"),
        request_timeout_ms: 1_000,
        template_ttl_seconds: None,
    }
}

#[test]
fn a_clinic_uses_its_own_account_and_others_the_default_one() {
    let mut config = Config::default();
    config.providers.whatsapp = Some(whatsapp("111"));
    // As the environment names it: MEDRELAY_CLINICS__HADAR_HAIFA__WHATSAPP__…
    config.clinics.insert(
        "hadar_haifa".to_owned(),
        ProviderAccounts {
            whatsapp: Some(whatsapp("222")),
            ..ProviderAccounts::default()
        },
    );
    let providers = Providers::build(&config, None).expect("accounts are valid");
    let number = |slug| {
        providers
            .channel(slug, ChannelKind::Whatsapp)
            .map(|c| c.sender_id().to_owned())
    };
    assert_eq!(number("hadar-haifa").as_deref(), Some("222"));
    assert_eq!(number("demo").as_deref(), Some("111"));
    assert!(providers.channel("demo", ChannelKind::Sms).is_none());
}

#[test]
fn only_channels_without_an_account_are_marked_as_going_to_the_sandbox() {
    let mut config = Config::default();
    config.clinics.insert(
        "hadar".to_owned(),
        ProviderAccounts {
            whatsapp: Some(whatsapp("222")),
            ..ProviderAccounts::default()
        },
    );
    let sandbox = ProviderAccounts {
        whatsapp: Some(whatsapp("999")),
        ..ProviderAccounts::default()
    };
    let providers = Providers::build(&config, Some(&sandbox)).expect("accounts are valid");

    assert!(!providers.is_sandboxed("hadar", ChannelKind::Whatsapp));
    assert!(providers.is_sandboxed("demo", ChannelKind::Whatsapp));
    assert_eq!(
        providers.sandboxed_channels(),
        vec![(None, vec![ChannelKind::Whatsapp])]
    );
}

#[test]
fn a_number_serves_the_clinics_that_send_through_it() {
    let mut config = Config::default();
    config.providers.whatsapp = Some(whatsapp("111"));
    for (slug, number) in [("hadar", "222"), ("rambam", "222"), ("ziv", "333")] {
        config.clinics.insert(
            slug.to_owned(),
            ProviderAccounts {
                whatsapp: Some(whatsapp(number)),
                ..ProviderAccounts::default()
            },
        );
    }
    let providers = Providers::build(&config, None).expect("accounts are valid");
    let senders = |id: &str| vec![id.to_owned()];

    assert_eq!(
        providers.clinics_using(&senders("222")),
        ClinicScope::Only(vec!["hadar".to_owned(), "rambam".to_owned()])
    );
    assert_eq!(
        providers.clinics_using(&senders("111")),
        ClinicScope::AllBut(vec![
            "hadar".to_owned(),
            "rambam".to_owned(),
            "ziv".to_owned()
        ])
    );
    assert_eq!(
        providers.clinics_using(&senders("999")),
        ClinicScope::Only(Vec::new())
    );
}

#[test]
fn a_bad_account_is_refused_with_its_key_named() {
    let mut config = Config::default();
    config.providers.whatsapp = Some(whatsapp("not a graph id"));
    let error = Providers::build(&config, None).expect_err("refused");
    assert!(
        error
            .to_string()
            .starts_with("providers.whatsapp: whatsapp.phone_number_id"),
        "{error}"
    );
}

fn twilio_sms(status_callback_url: &str) -> TwilioConfig {
    TwilioConfig {
        base_url: "https://api.twilio.com".to_owned(),
        account_sid: "ACtest".to_owned(),
        auth_token: Secret::new("token"),
        request_timeout_ms: 1_000,
        sms: Some(medrelay_channels::twilio::TwilioSmsConfig {
            from: Some("Clinic".to_owned()),
            messaging_service_sid: None,
            status_callback_url: status_callback_url.to_owned(),
            incoming_url: None,
            validity_period_seconds: None,
        }),
        voice: None,
    }
}

#[test]
fn a_twilio_callback_url_whose_signatures_cannot_be_checked_is_refused_at_start_up() {
    let refused = [
        (
            "https://relay.clinic.example/twilio/status",
            "must end with /webhooks/twilio/sms",
        ),
        (
            "https://relay.clinic.example/webhooks/twilio/sms?attempt=1",
            "must not carry `attempt`",
        ),
        (
            "https://relay.clinic.example/webhooks/twilio/sms#top",
            "no #fragment",
        ),
    ];
    for (url, rule) in refused {
        let mut config = Config::default();
        config.clinics.insert(
            "hadar".to_owned(),
            ProviderAccounts {
                twilio: Some(twilio_sms(url)),
                ..ProviderAccounts::default()
            },
        );
        let error = Providers::build(&config, None).expect_err(url).to_string();
        assert!(
            error.starts_with("clinics.hadar.twilio.sms.status_callback_url ")
                && error.contains(rule),
            "{url}: {error}"
        );
    }
}

#[test]
fn twilio_callbacks_are_checked_against_the_urls_each_clinic_gave_twilio() {
    let mut config = Config::default();
    config.providers.twilio = Some(twilio_sms("https://a.example/webhooks/twilio/sms"));
    config.clinics.insert(
        "hadar".to_owned(),
        ProviderAccounts {
            twilio: Some(twilio_sms(
                "https://b.example/relay/webhooks/twilio/sms?clinic=hadar",
            )),
            ..ProviderAccounts::default()
        },
    );
    let providers = Providers::build(&config, None).expect("accounts are valid");
    let account = providers.twilio_account("ACtest").expect("the account");
    let urls: Vec<&str> = account
        .hook_urls(Hook::SmsStatus)
        .map(url::Url::as_str)
        .collect();
    assert_eq!(
        urls,
        [
            "https://a.example/webhooks/twilio/sms",
            "https://b.example/relay/webhooks/twilio/sms?clinic=hadar"
        ]
    );
    assert_eq!(account.hook_urls(Hook::CallStatus).count(), 0);
}
