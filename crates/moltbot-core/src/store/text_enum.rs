//! `text_enum!`: an enum stored as a lowercase TEXT column (with `as_str`, `Display` and
//! `FromStr`; backends convert through those, so no backend type appears on it).

/// Defines a fieldless enum whose variants map to fixed strings in the database.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    other => Err(format!(
                        "unknown {} {other:?}", stringify!($name)
                    )),
                }
            }
        }
    };
}

/// Parses a stored text column into one of the store's text enums (`what` names it in the
/// error): the one way both backends read them back.
pub(crate) fn parse_text<T: std::str::FromStr<Err = String>>(
    what: &'static str,
    text: &str,
) -> Result<T, super::StoreError> {
    text.parse()
        .map_err(|detail| super::StoreError::Decode { what, detail })
}
