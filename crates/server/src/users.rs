//! User administration (the `docspace-auth user ...` commands): the same hashing and phone rules
//! as the API, so a user added here logs in there.

use uuid::Uuid;

use crate::auth::AuthService;
use crate::crypto::random_hex;
use crate::guard::AccountKey;
use crate::password;
use crate::phone::MobilePhone;
use crate::store::{PhoneChange, PhoneSource, StoreError, User};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0:?} is not a valid email address")]
    InvalidEmail(String),
    #[error("the password must not be empty")]
    EmptyPassword,
    #[error("invalid phone: {0}")]
    InvalidPhone(#[from] crate::phone::PhoneError),
    #[error("no user {0:?}")]
    NoSuchUser(String),
    #[error("another user has activated this mobile phone")]
    PhoneInUse,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Other(#[from] crate::error::Error),
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub phone: Option<&'a str>,
    pub disabled: bool,
}

impl AuthService {
    /// Adds a user; the password is kept only as a keyed hash of its client-side hash.
    pub async fn add_user(&self, new: NewUser<'_>) -> Result<User, AdminError> {
        let email = new.email.trim().to_lowercase();
        if !email_address::EmailAddress::is_valid(&email) {
            return Err(AdminError::InvalidEmail(new.email.to_owned()));
        }
        if new.password.is_empty() {
            return Err(AdminError::EmptyPassword);
        }
        let phone = new.phone.map(MobilePhone::parse).transpose()?;
        let client_hash = self.client_hash(new.password.to_owned()).await?;
        let salt = random_hex(16);
        let user = User {
            id: Uuid::new_v4().to_string(),
            email,
            password_hash: password::stored_hash(self.secret(), &salt, &client_hash),
            password_salt: salt,
            phone_source: phone.as_ref().map(|_| PhoneSource::Admin),
            mobile_phone: phone.map(|p| p.e164().to_owned()),
            phone_activated: false,
            disabled: new.disabled,
            created_at: self.now(),
        };
        self.store().insert_user(&user).await?;
        Ok(user)
    }

    /// Sets (validated, E.164) or clears a user's phone. A new phone starts not activated and
    /// binds: logins send the code to it, and the user cannot replace it. The user's live codes
    /// die with the old phone.
    pub async fn set_user_phone(&self, login: &str, phone: Option<&str>) -> Result<Option<MobilePhone>, AdminError> {
        let phone = phone.map(MobilePhone::parse).transpose()?;
        let user = self.find_user(login).await?;
        match self.store().set_mobile_phone(&user.id, phone.as_ref().map(MobilePhone::e164), self.now()).await? {
            PhoneChange::InUse => Err(AdminError::PhoneInUse),
            PhoneChange::NoSuchUser => Err(AdminError::NoSuchUser(login.to_owned())),
            _ => Ok(phone),
        }
    }

    /// Unlocks an account locked by failed logins, forgetting its failures; how many it had.
    pub async fn unlock_user(&self, login: &str) -> Result<(User, u32), AdminError> {
        let user = self.find_user(login).await?;
        let failures = self.store().clear_account_failures(AccountKey::of_user(&user.id).as_str()).await?;
        Ok((user, failures))
    }

    /// Whether failed logins have locked the user's account.
    pub async fn is_locked(&self, user: &User) -> Result<bool, AdminError> {
        let lock_after = self.brute_force.account_lock_after;
        let failures = self.store().account_failures(AccountKey::of_user(&user.id).as_str()).await?;
        Ok(lock_after > 0 && failures >= lock_after)
    }

    pub async fn remove_user(&self, login: &str) -> Result<User, AdminError> {
        let user = self.find_user(login).await?;
        self.store().remove_user(&user.id).await?;
        Ok(user)
    }

    async fn find_user(&self, login: &str) -> Result<User, AdminError> {
        self.store().find_user_by_login(login.trim()).await?.ok_or_else(|| AdminError::NoSuchUser(login.to_owned()))
    }
}
