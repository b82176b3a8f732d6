//! Request fields whose accepted values the OpenAPI document spells out exactly: what the parsers
//! below accept is what the schemas declare (`tests/api/docs.rs` checks it value by value).

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

/// The `provider` values that mean password login; any other is a third-party provider, which is
/// answered 400 `ProviderNotSupported`. Documented from [`Self::ALL`], so the document's enum and
/// [`Self::from_request`] cannot drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginProvider {
    Empty,
    Email,
}

impl LoginProvider {
    pub const ALL: [LoginProvider; 2] = [LoginProvider::Empty, LoginProvider::Email];

    /// The value as documented.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginProvider::Empty => "",
            LoginProvider::Email => "email",
        }
    }

    /// The provider a request names (absent is empty), or `None` for one not accepted: letter case
    /// and surrounding whitespace are ignored.
    pub fn from_request(value: Option<&str>) -> Option<Self> {
        let value = value.unwrap_or("").trim();
        Self::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(value))
    }
}

impl utoipa::PartialSchema for LoginProvider {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Self::ALL.map(Self::as_str)))
            .description(Some(
                "Login provider: empty or `email`, both meaning password login. Letter case and surrounding \
                 whitespace are ignored (` Email ` is `email`). Any other value (a third-party provider) is \
                 answered 400 `ProviderNotSupported`.",
            ))
            .into()
    }
}

impl ToSchema for LoginProvider {}

/// A flag sent as a boolean or as a string: the string `true`, in any letter case, is true; any
/// other string is false.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BoolOrString {
    Bool(bool),
    #[schema(example = "true")]
    String(String),
}

/// A [`BoolOrString`] field as a boolean; absent or null is `None`.
pub fn bool_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<BoolOrString>::deserialize(deserializer)? {
        None => None,
        Some(BoolOrString::Bool(b)) => Some(b),
        Some(BoolOrString::String(s)) => Some(s.eq_ignore_ascii_case("true")),
    })
}

/// An optional nested object, read only from a JSON object (absent or null is `None`): serde's
/// derive would also read a struct from an array, positionally, a form the document does not declare.
pub fn object_only<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    use serde::de::{MapAccess, Visitor, value::MapAccessDeserializer};
    struct ObjectOnly<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
    }
    deserializer.deserialize_option(ObjectOnly(std::marker::PhantomData))
}
