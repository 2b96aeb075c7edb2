//! WDM device registrations: list, create, delete, and pick the one to reuse.
//!
//! `GET <wdm>/devices` → `{"devices":[...]}`; `POST <wdm>/devices` with the body below;
//! `DELETE <device url>`. Reusing the newest device with our name (by `modificationTime`, as
//! wr-org/webex-rust `src/lib.rs` does) keeps restarts from piling up registrations.

use serde::{Deserialize, Serialize};

/// One WDM device registration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// The device URL (`<wdm>/devices/<uuid>`): `DELETE` it to unregister.
    pub url: String,
    /// Where to open the websocket.
    pub web_socket_url: String,
    /// The name given at creation (what [`super::Mercury::register`] matches).
    #[serde(default)]
    pub name: Option<String>,
    /// `deviceName` as created.
    #[serde(default)]
    pub device_name: Option<String>,
    /// Last change, ISO 8601 (compared as text: same format, same zone).
    #[serde(default)]
    pub modification_time: Option<String>,
}

/// `GET <wdm>/devices` answer.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DeviceList {
    #[serde(default)]
    pub(crate) devices: Vec<serde_json::Value>,
}

/// The body of `POST <wdm>/devices`. Bots register as a `DESKTOP` device, as
/// fbradyirl/webex_bot `webex_websocket_client.py` does (`DEVICE_DATA`); the model and system
/// names say which client this is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDevice {
    /// Shown in Webex's device lists.
    pub device_name: String,
    /// `DESKTOP`.
    pub device_type: String,
    /// Model shown to users.
    pub localized_model: String,
    /// Model.
    pub model: String,
    /// Our registration name (matched on reuse).
    pub name: String,
    /// Client system name.
    pub system_name: String,
    /// Client system version.
    pub system_version: String,
}

impl CreateDevice {
    /// The body for a device called `name`.
    pub fn named(name: &str) -> Self {
        Self {
            device_name: name.to_string(),
            device_type: "DESKTOP".into(),
            localized_model: "webex-api-rs".into(),
            model: "webex-api-rs".into(),
            name: name.to_string(),
            system_name: "webex-api-rs".into(),
            system_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Parses the list, skipping entries that lack a URL or websocket URL (never fatal).
pub(crate) fn parse_devices(list: DeviceList) -> Vec<Device> {
    list.devices
        .into_iter()
        .filter_map(|value| serde_json::from_value(value).ok())
        .collect()
}

/// The newest device called `name` (ties: the later in the list).
pub fn pick_reusable<'a>(devices: &'a [Device], name: &str) -> Option<&'a Device> {
    devices
        .iter()
        .filter(|d| d.name.as_deref() == Some(name))
        .max_by(|a, b| a.modification_time.cmp(&b.modification_time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(url: &str, name: &str, modified: Option<&str>) -> Device {
        Device {
            url: url.into(),
            web_socket_url: format!("{url}/ws"),
            name: Some(name.into()),
            device_name: None,
            modification_time: modified.map(str::to_string),
        }
    }

    #[test]
    fn picks_the_newest_device_with_our_name() {
        let devices = vec![
            device("d1", "gw", Some("2026-01-01T00:00:00.000Z")),
            device("d2", "gw", Some("2026-03-01T00:00:00.000Z")),
            device("d3", "other", Some("2026-05-01T00:00:00.000Z")),
            device("d4", "gw", None),
        ];
        assert_eq!(
            pick_reusable(&devices, "gw").map(|d| d.url.as_str()),
            Some("d2")
        );
        assert_eq!(
            pick_reusable(&devices, "other").map(|d| d.url.as_str()),
            Some("d3")
        );
        assert!(pick_reusable(&devices, "nobody").is_none());
    }

    #[test]
    fn malformed_entries_are_skipped() {
        let list: DeviceList = serde_json::from_str(
            r#"{"devices":[{"url":"u","webSocketUrl":"ws://x","name":"gw"},{"name":"broken"},7]}"#,
        )
        .unwrap_or_default();
        let devices = parse_devices(list);
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].web_socket_url, "ws://x");
    }

    #[test]
    fn create_body_has_the_fields_wdm_expects() {
        let body = serde_json::to_value(CreateDevice::named("gw-1")).unwrap_or_default();
        for key in [
            "deviceName",
            "deviceType",
            "localizedModel",
            "model",
            "name",
            "systemName",
            "systemVersion",
        ] {
            assert!(body.get(key).is_some(), "{key}");
        }
        assert_eq!(body["deviceType"], "DESKTOP");
        assert_eq!(body["name"], "gw-1");
    }
}
