//! Fetching a patient's media through the Cloud API against a local look-alike of Meta's Graph
//! API: the media id is looked up, then its URL is downloaded with the same token, and every
//! refusal is told apart (gone, credentials, unavailable).

use medrelay_channels::Secret;
use medrelay_channels::whatsapp::{MediaError, WhatsAppConfig, WhatsAppMedia};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "EAAG-test-access-token";
const MEDIA_ID: &str = "1479537139650973";
const LOOKUP_PATH: &str = "/v23.0/1479537139650973";
const DOWNLOAD_PATH: &str = "/whatsapp_business/attachments/";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n not really an image, but bytes all the same";

fn media_client(base_url: &str) -> WhatsAppMedia {
    WhatsAppMedia::new(&WhatsAppConfig {
        base_url: base_url.to_owned(),
        api_version: "v23.0".to_owned(),
        phone_number_id: "106540352242922".to_owned(),
        access_token: Secret::new(TOKEN),
        app_secret: Secret::new("app-secret"),
        verify_token: Secret::new("verify-me"),
        request_timeout_ms: 2_000,
        template_ttl_seconds: None,
    })
    .expect("test config is valid")
}

fn bearer() -> wiremock::matchers::HeaderExactMatcher {
    header("authorization", format!("Bearer {TOKEN}").as_str())
}

async fn meta_with_media(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(LOOKUP_PATH))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp",
            "url": format!("{}{DOWNLOAD_PATH}?mid={MEDIA_ID}&ext=1764140500&hash=ATsecret", server.uri()),
            "mime_type": "image/png",
            "sha256": "m1Zx0zPTvXw9",
            "file_size": PNG.len(),
            "id": MEDIA_ID,
        })))
        .expect(1)
        .mount(server)
        .await;
}

async fn read_all(mut download: medrelay_channels::whatsapp::MediaDownload) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(chunk) = download.next_chunk().await.expect("download continues") {
        bytes.extend_from_slice(&chunk);
    }
    bytes
}

#[tokio::test]
async fn media_is_looked_up_then_downloaded_with_the_token_and_its_type_and_length() {
    let meta = MockServer::start().await;
    meta_with_media(&meta).await;
    Mock::given(method("GET"))
        .and(path(DOWNLOAD_PATH))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_raw(PNG, "image/png"))
        .expect(1)
        .mount(&meta)
        .await;

    let download = media_client(&meta.uri())
        .fetch(MEDIA_ID)
        .await
        .expect("fetched");

    assert_eq!(download.content_type.as_deref(), Some("image/png"));
    assert_eq!(download.content_length, Some(PNG.len() as u64));
    assert_eq!(read_all(download).await, PNG);
}

#[tokio::test]
async fn an_unknown_or_deleted_media_id_is_gone() {
    let meta = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(LOOKUP_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "Unsupported get request. Object with ID '1479537139650973' does not exist",
            "type": "GraphMethodException", "code": 100, "error_subcode": 33,
            "fbtrace_id": "AbC"}})))
        .mount(&meta)
        .await;

    let error = media_client(&meta.uri()).fetch(MEDIA_ID).await;

    assert!(matches!(error, Err(MediaError::Gone)), "{error:?}");
}

#[tokio::test]
async fn an_expired_download_url_is_gone() {
    let meta = MockServer::start().await;
    meta_with_media(&meta).await;
    Mock::given(method("GET"))
        .and(path(DOWNLOAD_PATH))
        .respond_with(ResponseTemplate::new(404))
        .mount(&meta)
        .await;

    let error = media_client(&meta.uri()).fetch(MEDIA_ID).await;

    assert!(matches!(error, Err(MediaError::Gone)), "{error:?}");
}

#[tokio::test]
async fn an_expired_token_is_a_configuration_error() {
    let meta = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(LOOKUP_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {
            "message": "Error validating access token: Session has expired",
            "type": "OAuthException", "code": 190, "fbtrace_id": "AbC"}})))
        .mount(&meta)
        .await;

    let error = media_client(&meta.uri()).fetch(MEDIA_ID).await;

    assert!(
        matches!(
            error,
            Err(MediaError::Config {
                status: 401,
                code: Some(190)
            })
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_server_error_on_lookup_or_download_is_unavailable_and_names_no_url() {
    let meta = MockServer::start().await;
    meta_with_media(&meta).await;
    Mock::given(method("GET"))
        .and(path(DOWNLOAD_PATH))
        .respond_with(ResponseTemplate::new(503))
        .mount(&meta)
        .await;

    let error = media_client(&meta.uri())
        .fetch(MEDIA_ID)
        .await
        .expect_err("Meta is down");

    assert!(matches!(error, MediaError::Unavailable(_)), "{error:?}");
    assert!(!error.to_string().contains("hash="), "{error}");
}

#[tokio::test]
async fn a_meta_that_cannot_be_reached_is_unavailable() {
    // Nothing listens on this port once the listener is dropped: the connection is refused.
    let uri = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        format!("http://{}", listener.local_addr().expect("address"))
    };

    let error = media_client(&uri).fetch(MEDIA_ID).await;

    assert!(
        matches!(error, Err(MediaError::Unavailable(_))),
        "{error:?}"
    );
}

#[test]
fn the_client_does_not_show_its_token() {
    let client = media_client("https://graph.facebook.com");

    assert!(!format!("{client:?}").contains(TOKEN));
}
