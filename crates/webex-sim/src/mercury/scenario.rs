//! Scenario-worded Mercury helpers on [`SimServer`]: where clients connect, what devices
//! exist, and the websocket faults.

use super::{DeviceInfo, Out};
use crate::faults::Faults;
use crate::ids::{resolve, Kind};
use crate::server::{SimPerson, SimServer};
use crate::state::lock;
use std::time::Duration;

impl SimServer {
    /// `http://127.0.0.1:PORT/u2c/api/v1`: the U2C base to configure in a client (its
    /// `/catalog?format=hostmap` names this server's WDM).
    pub fn u2c_url(&self) -> String {
        super::routes::u2c_base(&self.url())
    }

    /// `http://127.0.0.1:PORT/wdm/api/v1`.
    pub fn wdm_url(&self) -> String {
        super::routes::wdm_base(&self.url())
    }

    /// The devices registered with `who`'s token, oldest first.
    pub fn devices_of(&self, who: &SimPerson) -> Vec<DeviceInfo> {
        match resolve(Kind::People, &who.id) {
            Some(uuid) => self.state.mercury.infos(Some(&uuid)),
            None => Vec::new(),
        }
    }

    /// Every device, oldest first.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        self.state.mercury.infos(None)
    }

    /// Websockets authorized right now.
    pub fn websocket_connections(&self) -> usize {
        self.state.mercury.connections()
    }

    /// Acks received for pending events since the server started.
    pub fn acks_received(&self) -> u64 {
        self.state.mercury.acks()
    }

    /// Ping frames received since the server started (answered or not).
    pub fn pings_received(&self) -> u64 {
        self.state.mercury.pings()
    }

    /// Drops every websocket without a close frame, as a network failure would. Un-acked
    /// events are kept for the reconnect. Returns how many were open.
    pub fn drop_websockets(&self) -> usize {
        self.state.mercury.broadcast(Out::Drop)
    }

    /// Closes every websocket with `code` (e.g. 4401 to make the client check its token,
    /// 1001 for a server restart) and `reason`. Returns how many were open.
    pub fn close_websockets(&self, code: u16, reason: &str) -> usize {
        self.state
            .mercury
            .broadcast(Out::Close(code, reason.to_string()))
    }

    /// Deletes every device server-side (their sockets are closed; the next upgrade or
    /// `GET` of the device answers 404), as Webex does to stale devices. Returns how many.
    pub fn forget_devices(&self) -> usize {
        self.state.mercury.delete(None, None)
    }

    /// Revokes `who`'s token, as an admin or a token rotation does: every later call with it
    /// answers 401 and its websockets are closed with 4401 (NotAuthorized). Returns whether
    /// the person exists.
    pub fn revoke_token(&self, who: &SimPerson) -> bool {
        let Some(uuid) = resolve(Kind::People, &who.id) else {
            return false;
        };
        let found = {
            let mut world = self.state.world();
            match world.people.iter_mut().find(|p| p.uuid == uuid) {
                Some(person) => {
                    person.token = format!("revoked-{}", uuid::Uuid::new_v4());
                    true
                }
                None => false,
            }
        };
        if found {
            self.state.mercury.broadcast(Out::Close(
                4401,
                "NotAuthorized: the token was revoked".to_string(),
            ));
        }
        found
    }

    /// Changes the fault configuration in place (rate windows restart, as with `set_faults`).
    pub(crate) fn edit_faults(&self, edit: impl FnOnce(&mut Faults)) {
        let mut state = lock(&self.state.faults);
        let mut faults = state.faults.clone();
        edit(&mut faults);
        state.set(faults);
    }

    /// Sends every websocket event twice (`true`) or once (`false`).
    pub fn duplicate_events(&self, on: bool) {
        self.edit_faults(|f| f.mercury_duplicate_ratio = if on { 1.0 } else { 0.0 });
    }

    /// Holds every websocket event back for `delay` (zero: no delay).
    pub fn delay_events(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.edit_faults(|f| f.mercury_delay_ms = ms);
    }

    /// Stops answering `ping` frames (the client's pong timeout should fire).
    pub fn stop_answering_pings(&self) {
        self.edit_faults(|f| f.mercury_ignore_pings = true);
    }

    /// Answers `ping` frames again.
    pub fn answer_pings(&self) {
        self.edit_faults(|f| f.mercury_ignore_pings = false);
    }

    /// Refuses websocket upgrades with `status` (e.g. 404, as for a device Webex dropped),
    /// or accepts them again with `None`.
    pub fn refuse_websocket_upgrades(&self, status: Option<u16>) {
        self.edit_faults(|f| f.mercury_refuse_upgrade = status);
    }

    /// How long a websocket waits for its authorization frame (default 10 s).
    pub fn set_websocket_auth_timeout(&self, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.edit_faults(|f| f.mercury_auth_timeout_ms = Some(ms));
    }
}
