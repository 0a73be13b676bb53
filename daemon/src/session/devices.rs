//! Remembered devices as the session keeps them: per user of this pool, in the state file
//! (the device password is a secret), surviving sign-outs. A sign-in with the user's device
//! proves it instead of MFA; its refreshes name it.

use std::collections::BTreeMap;
use std::sync::Arc;

use cognitod_proto::{DeviceInfo, Secret};
use tracing::{info, warn};

use super::owner::Owner;
use super::{Reply, SessionError};
use crate::cognito::UserPool;
use crate::cognito::devices::{self, DeviceCreds};
use crate::cognito::wire::NewDeviceMetadata;
use crate::store::PersistedDevice;

/// A device of a user of this pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDevice {
    /// The canonical username, and what the user signed in as.
    pub username: String,
    pub login_id: String,
    pub creds: DeviceCreds,
    /// Cognito remembers it (a pool that lets users opt in may not yet).
    pub remembered: bool,
    pub name: String,
}

impl StoredDevice {
    pub(super) fn to_persisted(&self, user_pool_id: &str) -> PersistedDevice {
        PersistedDevice {
            user_pool_id: user_pool_id.to_owned(),
            username: self.username.clone(),
            login_id: self.login_id.clone(),
            device_key: self.creds.key.clone(),
            device_group_key: self.creds.group_key.clone(),
            device_password: self.creds.password.clone(),
            remembered: self.remembered,
            name: self.name.clone(),
        }
    }

    pub(super) fn from_persisted(stored: PersistedDevice) -> Self {
        Self {
            username: stored.username,
            login_id: stored.login_id,
            creds: DeviceCreds {
                key: stored.device_key,
                group_key: stored.device_group_key,
                password: stored.device_password,
            },
            remembered: stored.remembered,
            name: stored.name,
        }
    }
}

/// Confirms the device a sign-in's tokens announced (`ConfirmDevice` with a fresh device
/// password's verifier); `None`, logged, when Cognito does not take it: the sign-in stands.
pub(super) async fn confirm_new<P: UserPool>(
    pool: &P,
    access_token: &Secret,
    metadata: &NewDeviceMetadata,
    (username, login_id): (&str, &str),
    name: Option<String>,
) -> Option<StoredDevice> {
    let secret = match devices::new_secret(&metadata.device_group_key, &metadata.device_key) {
        Ok(secret) => secret,
        Err(error) => {
            warn!(%error, "no randomness for a device password; this machine is not remembered");
            return None;
        }
    };
    let name = name.unwrap_or_else(devices::host_name);
    match pool
        .confirm_device(access_token, &metadata.device_key, &name, &secret)
        .await
    {
        Ok(confirmation_necessary) => {
            info!(device_key = %metadata.device_key, remembered = !confirmation_necessary, "this machine is confirmed as the user's device");
            Some(StoredDevice {
                username: username.to_owned(),
                login_id: login_id.to_owned(),
                creds: DeviceCreds {
                    key: metadata.device_key.clone(),
                    group_key: metadata.device_group_key.clone(),
                    password: secret.password,
                },
                remembered: !confirmation_necessary,
                name,
            })
        }
        Err(error) => {
            warn!(%error, "the device was not confirmed; this machine is not remembered");
            None
        }
    }
}

impl<P: UserPool> Owner<P> {
    /// The device of the user named `name` (canonical or as typed).
    pub(super) fn device_of(&self, name: &str) -> Option<&StoredDevice> {
        self.devices
            .iter()
            .find(|d| d.username == name || d.login_id == name)
    }

    /// Keeps `device` as its user's (one per user).
    pub(super) fn keep_device(&mut self, device: StoredDevice) {
        self.devices.retain(|d| d.username != device.username);
        self.devices.push(device);
    }

    /// Forgets the device of `name` here (Cognito no longer knows it, or the user asked).
    pub(super) fn drop_device(&mut self, name: &str) {
        let before = self.devices.len();
        self.devices
            .retain(|d| d.username != name && d.login_id != name);
        if self.devices.len() != before {
            info!(user = name, "the remembered device was dropped");
        }
    }
}

/// What a client asks of the user's devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceOp {
    /// `ListDevices`.
    List,
    /// Remember this machine (`UpdateDeviceStatus remembered`).
    RememberCurrent,
    /// Forget this machine, here and at Cognito.
    ForgetCurrent,
    /// Forget the device with this key (this machine's too).
    Forget(String),
}

impl<P: UserPool> Owner<P> {
    /// Runs `op` for the signed-in user; the devices for `List`, else none.
    pub(super) fn devices_command(&mut self, op: DeviceOp, reply: Reply<Vec<DeviceInfo>>) {
        let Some(current) = self.current() else {
            let _ = reply.send(Err(SessionError::NotSignedIn));
            return;
        };
        let mine = self.device_of(&current.username).cloned();
        let op = match op {
            DeviceOp::Forget(key) if mine.as_ref().is_some_and(|d| d.creds.key == key) => {
                DeviceOp::ForgetCurrent
            }
            other => other,
        };
        let key = match &op {
            DeviceOp::List => None,
            DeviceOp::Forget(key) => Some(key.clone()),
            DeviceOp::RememberCurrent | DeviceOp::ForgetCurrent => match &mine {
                Some(device) => Some(device.creds.key.clone()),
                None => {
                    let _ = reply.send(Err(SessionError::NoDevice(current.username.clone())));
                    return;
                }
            },
        };
        match op {
            DeviceOp::ForgetCurrent => {
                // Gone here at once, whatever Cognito says.
                self.drop_device(&current.username);
                self.persist_current();
            }
            DeviceOp::RememberCurrent => {
                if let Some(mut device) = mine.clone() {
                    device.remembered = true;
                    self.keep_device(device);
                    self.persist_current();
                }
            }
            _ => {}
        }
        let pool = Arc::clone(&self.pool);
        let access = current.tokens.access_token.clone();
        let current_key = mine.map(|d| d.creds.key);
        tokio::spawn(async move {
            let answer = match (op, key) {
                (DeviceOp::List, _) => pool.list_devices(&access).await.map(|devices| {
                    devices
                        .into_iter()
                        .map(|device| device_info(device, current_key.as_deref()))
                        .collect()
                }),
                (DeviceOp::RememberCurrent, Some(key)) => pool
                    .update_device_status(&access, &key, true)
                    .await
                    .map(|()| Vec::new()),
                (_, Some(key)) => pool.forget_device(&access, &key).await.map(|()| Vec::new()),
                (_, None) => Ok(Vec::new()),
            };
            let _ = reply.send(answer.map_err(SessionError::from));
        });
    }
}

impl<P: UserPool> Owner<P> {
    /// At sign-out with `forgetDevice`: this machine is no longer the user's device here at
    /// once; its key, for Cognito to forget before the sign-out revokes the access token.
    pub(super) fn take_device(&mut self, username: &str) -> Option<String> {
        let key = self.device_of(username).map(|d| d.creds.key.clone())?;
        self.drop_device(username);
        self.persist_current();
        Some(key)
    }
}

/// A device of `ListDevices` as the API shows it.
fn device_info(device: crate::cognito::wire::DeviceType, current: Option<&str>) -> DeviceInfo {
    let mut attributes: BTreeMap<String, String> = device
        .device_attributes
        .into_iter()
        .filter_map(|a| a.value.map(|v| (a.name, v)))
        .collect();
    let name = attributes.remove("device_name");
    let remembered = attributes
        .remove("dev:device_remembered_status")
        .is_some_and(|status| status == "remembered");
    DeviceInfo {
        current: current == Some(device.device_key.as_str()),
        id: device.device_key,
        name,
        remembered,
        attributes,
    }
}
