//! User administration (the `docspace-auth user ...` commands): the same hashing and phone rules
//! as the API, so a user added here logs in there.

use uuid::Uuid;

use crate::auth::AuthService;
use crate::crypto::random_hex;
use crate::password;
use crate::phone::MobilePhone;
use crate::store::{StoreError, User};

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
            mobile_phone: phone.map(|p| p.e164().to_owned()),
            phone_activated: false,
            disabled: new.disabled,
            created_at: self.now(),
        };
        self.store().insert_user(&user).await?;
        Ok(user)
    }

    /// Sets (validated, E.164) or clears a user's phone; a new phone starts not activated.
    pub async fn set_user_phone(&self, login: &str, phone: Option<&str>) -> Result<Option<MobilePhone>, AdminError> {
        let phone = phone.map(MobilePhone::parse).transpose()?;
        let user = self.find_user(login).await?;
        self.store().set_mobile_phone(&user.id, phone.as_ref().map(MobilePhone::e164)).await?;
        Ok(phone)
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
