//! Fuzzes the SharePoint list webhook wire format: the notification batch parser and the
//! validation token check. Neither may panic; a parsed notification must give an event
//! whose list id is a GUID and whose site is a server-relative path (what `GetChanges`
//! URLs are built from), and an accepted token must be short and free of control
//! characters. Run: `cargo fuzz run sharepoint_webhook` in `fuzz/`.
#![no_main]

use holdpoint::services::sharepoint::webhooks::notification::{
    MAX_VALIDATION_TOKEN, parse, validation_token,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = parse(data) {
        for notification in &batch {
            let event = notification.event();
            let site = event["site_url"].as_str().unwrap_or_default();
            assert!(site.starts_with('/') && !site.starts_with("//"), "{site:?}");
            assert!(!site.contains('@'), "{site:?}");
            assert!(
                !site
                    .split('/')
                    .any(|segment| !segment.is_empty() && segment.bytes().all(|b| b == b'.')),
                "{site:?}"
            );
            let _ = notification.content_key();
        }
    }
    if let Ok(query) = std::str::from_utf8(data)
        && let Ok(Some(token)) = validation_token(query)
    {
        assert!(token.len() <= MAX_VALIDATION_TOKEN);
        assert!(!token.chars().any(char::is_control));
    }
});
