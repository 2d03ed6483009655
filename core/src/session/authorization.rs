//! What a Clerk session token allows, decided as Clerk's own SDK decides it: `has()` in
//! `@clerk/shared` (`authorization.ts`: roles, permissions, features, plans, fail closed) and the
//! v2 token decoding of `jwtPayloadParser.ts` (permissions packed into `fea`, `o.per`, `o.fpm`).
//! A pending session (`sts: pending`) counts as signed out unless the setting says otherwise, as
//! Clerk's backend treats it (`treatPendingAsSignedOut`). Nothing here fails: an odd claim is an
//! absent one, and a malformed one grants nothing.

use serde_json::{Map, Value};

/// Setting `pending_sessions`: what a token whose `sts` is `pending` counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PendingSessions {
    /// No token at all (Clerk's backend default).
    #[default]
    SignedOut,
    /// Like any other token.
    SignedIn,
}

impl PendingSessions {
    pub fn parse(value: &str) -> Option<PendingSessions> {
        match value.trim() {
            "signed_out" => Some(PendingSessions::SignedOut),
            "signed_in" => Some(PendingSessions::SignedIn),
            _ => None,
        }
    }
}

/// A `fea` or `pla` claim split by scope, as the SDK's `splitByScope` does: `o:` elements are the
/// organization's, `u:` the user's, `ou:`/`uo:` both's; other scopes count for neither.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scoped {
    pub org: Vec<String>,
    pub user: Vec<String>,
}

/// Where the SDK throws: an element without a colon (an empty one included). Nothing that reads
/// the claim grants anything then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

pub fn split_by_scope(claim: &str) -> Result<Scoped, Malformed> {
    let mut scoped = Scoped::default();
    if claim.is_empty() {
        return Ok(scoped);
    }
    for element in claim.split(',') {
        let (scope, value) = element.trim().split_once(':').ok_or(Malformed)?;
        let (org, user) = match scope {
            "o" => (true, false),
            "u" => (false, true),
            "ou" | "uo" => (true, true),
            _ => (false, false),
        };
        if org {
            scoped.org.push(value.to_owned());
        }
        if user {
            scoped.user.push(value.to_owned());
        }
    }
    Ok(scoped)
}

/// The low `bits` bits of a decimal mask of any size, least significant first; None for a
/// malformed mask (not a non-empty run of ASCII digits, once trimmed).
pub fn mask_bits(mask: &str, bits: usize) -> Option<Vec<bool>> {
    let digits = mask.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The mask modulo 2^bits, in 64-bit limbs, least significant first: only those bits count.
    let mut limbs = vec![0u64; bits.div_ceil(64).max(1)];
    let top_bits = bits % 64;
    for digit in digits.bytes().map(|b| u64::from(b - b'0')) {
        let mut carry = digit;
        for limb in &mut limbs {
            let wide = u128::from(*limb) * 10 + u128::from(carry);
            *limb = wide as u64;
            carry = (wide >> 64) as u64;
        }
        if top_bits != 0 {
            if let Some(top) = limbs.last_mut() {
                *top &= (1u64 << top_bits) - 1;
            }
        }
    }
    Some((0..bits).map(|bit| limbs[bit / 64] >> (bit % 64) & 1 == 1).collect())
}

/// The organization's permissions of a v2 token: for the i-th organization feature of `fea`,
/// the i-th mask of `fpm` says which of the permissions `per` names it grants (least significant
/// bit = first permission), each as `org:<feature>:<permission>`. A malformed mask grants
/// nothing and keeps its place; a feature without a mask grants nothing.
pub fn decode_permissions(org_features: &[String], per: &str, fpm: &str) -> Vec<String> {
    let permissions: Vec<&str> = if per.is_empty() { Vec::new() } else { per.split(',').map(str::trim).collect() };
    let masks: Vec<&str> = if fpm.is_empty() { Vec::new() } else { fpm.split(',').collect() };
    let mut granted = Vec::new();
    for (feature, mask) in org_features.iter().zip(masks) {
        let Some(bits) = mask_bits(mask, permissions.len()) else { continue };
        for (permission, _) in permissions.iter().zip(bits).filter(|(_, set)| *set) {
            granted.push(format!("org:{feature}:{permission}"));
        }
    }
    granted
}

/// `org:` in front, whatever number of them there was (the SDK's `prefixWithOrg`).
pub fn with_org_prefix(value: &str) -> String {
    let mut rest = value;
    while let Some(stripped) = rest.strip_prefix("org:") {
        rest = stripped;
    }
    format!("org:{rest}")
}

/// The active organization as the token describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveOrganization {
    pub id: String,
    /// With the `org:` prefix (v2 tokens leave it out).
    pub role: Option<String>,
    pub slug: Option<String>,
    pub permissions: Vec<String>,
}

/// What a session token allows. Built once per distinct claims text; every question is then a
/// lookup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Access {
    /// The signed-in user; None when signed out (no `sub`, or a pending session counted as none).
    pub user_id: Option<String>,
    /// The active organization of a signed-in user.
    pub organization: Option<ActiveOrganization>,
    features: Option<Result<Scoped, Malformed>>,
    plans: Option<Result<Scoped, Malformed>>,
}

fn text<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `v` is the number 2 (2.0 too, as JavaScript compares it).
fn is_v2(claims: &Map<String, Value>) -> bool {
    claims.get("v").and_then(Value::as_f64) == Some(2.0)
}

/// The `sts` claim.
pub fn session_status(claims: &Map<String, Value>) -> Option<&str> {
    claims.get("sts").and_then(Value::as_str)
}

fn scoped_claim(claims: &Map<String, Value>, key: &str) -> Option<Result<Scoped, Malformed>> {
    text(claims, key).map(split_by_scope)
}

fn active_organization(
    claims: &Map<String, Value>,
    features: Option<&Result<Scoped, Malformed>>,
) -> Option<ActiveOrganization> {
    if is_v2(claims) {
        let o = claims.get("o")?.as_object()?;
        let id = text(o, "id")?.to_owned();
        let permissions = match features {
            Some(Err(Malformed)) => Vec::new(),
            features => {
                let org_features = features.and_then(|f| f.as_ref().ok()).map_or(&[][..], |f| &f.org[..]);
                let per = o.get("per").and_then(Value::as_str).unwrap_or_default();
                let fpm = o.get("fpm").and_then(Value::as_str).unwrap_or_default();
                decode_permissions(org_features, per, fpm)
            }
        };
        return Some(ActiveOrganization {
            id,
            role: text(o, "rol").map(with_org_prefix_once),
            slug: text(o, "slg").map(str::to_owned),
            permissions,
        });
    }
    let id = text(claims, "org_id")?.to_owned();
    let permissions = match claims.get("org_permissions") {
        Some(Value::Array(listed)) => listed.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    Some(ActiveOrganization {
        id,
        role: text(claims, "org_role").map(with_org_prefix_once),
        slug: text(claims, "org_slug").map(str::to_owned),
        permissions,
    })
}

/// The role as the SDKs give it: `org:admin` for v1's `org:admin` and v2's `admin` alike.
fn with_org_prefix_once(role: &str) -> String {
    if role.starts_with("org:") {
        role.to_owned()
    } else {
        format!("org:{role}")
    }
}

/// Whether `claim` (already split) grants `wanted` (`scope:id` or a bare id), as the SDK's
/// `checkForFeatureOrPlan`: `o`/`org`/`organization` looks in the organization's, `u`/`user` in
/// the user's, no scope in either; any other scope grants nothing (the SDK throws).
fn grants(claim: Option<&Result<Scoped, Malformed>>, wanted: &str) -> bool {
    let Some(Ok(scoped)) = claim else { return false };
    let mut parts = wanted.split(':');
    let raw_scope = parts.next().unwrap_or_default();
    let raw_id = parts.next();
    let id = raw_id.filter(|id| !id.is_empty()).unwrap_or(raw_scope);
    let contains = |list: &[String]| list.iter().any(|granted| granted == id);
    match raw_id.map(|_| raw_scope) {
        None => contains(&scoped.org) || contains(&scoped.user),
        Some("o" | "org" | "organization") => contains(&scoped.org),
        Some("u" | "user") => contains(&scoped.user),
        Some(_) => false,
    }
}

impl Access {
    pub fn of(claims: &Map<String, Value>, pending: PendingSessions) -> Access {
        let signed_out = pending == PendingSessions::SignedOut && session_status(claims) == Some("pending");
        let Some(user_id) = text(claims, "sub").filter(|_| !signed_out) else { return Access::default() };
        let features = scoped_claim(claims, "fea");
        Access {
            user_id: Some(user_id.to_owned()),
            organization: active_organization(claims, features.as_ref()),
            plans: scoped_claim(claims, "pla"),
            features,
        }
    }

    /// The active organization's permissions; None without one (or signed out).
    pub fn org_permissions(&self) -> Option<&[String]> {
        self.organization.as_ref().map(|o| &o.permissions[..])
    }

    pub fn has_role(&self, role: &str) -> bool {
        let Some(org_role) = self.organization.as_ref().and_then(|o| o.role.as_deref()) else { return false };
        with_org_prefix(org_role) == with_org_prefix(role)
    }

    pub fn has_permission(&self, permission: &str) -> bool {
        let wanted = with_org_prefix(permission);
        self.org_permissions().is_some_and(|granted| granted.contains(&wanted))
    }

    pub fn has_feature(&self, feature: &str) -> bool {
        self.user_id.is_some() && grants(self.features.as_ref(), feature)
    }

    pub fn has_plan(&self, plan: &str) -> bool {
        self.user_id.is_some() && grants(self.plans.as_ref(), plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn access(claims: Value) -> Access {
        Access::of(claims.as_object().unwrap(), PendingSessions::SignedOut)
    }

    fn sorted(permissions: Option<&[String]>) -> Vec<String> {
        let mut permissions = permissions.expect("an active organization").to_vec();
        permissions.sort();
        permissions
    }

    fn v2(fea: &str, per: &str, fpm: &str) -> Access {
        access(json!({"sub": "user_1", "v": 2, "fea": fea,
                      "o": {"id": "org_id", "rol": "admin", "slg": "org_slug", "per": per, "fpm": fpm}}))
    }

    fn strings(list: &[&str]) -> Vec<String> {
        let mut list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        list.sort();
        list
    }

    // The SDK's own vectors (packages/shared/src/__tests__/jwtPayloadParser.spec.ts).
    #[test]
    fn the_sdks_permission_vectors() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            ("o:impersonation", "read,manage", "3", &["org:impersonation:read", "org:impersonation:manage"]),
            (
                "o:impersonation,o:memberships",
                "read,manage",
                "1,3",
                &["org:impersonation:read", "org:memberships:read", "org:memberships:manage"],
            ),
            (
                "o:impersonation,o:memberships,o:feature3",
                "read,manage",
                "1,3",
                &["org:impersonation:read", "org:memberships:read", "org:memberships:manage"],
            ),
            (
                "uo:impersonation,o:memberships,uo:feature3",
                "read,manage",
                "1,3,1",
                &["org:impersonation:read", "org:memberships:read", "org:memberships:manage", "org:feature3:read"],
            ),
            ("ou:memberships,u:impersonation", "read,manage", "3", &["org:memberships:read", "org:memberships:manage"]),
            (
                "o:billing,o:email,o:fraud,o:instance,o:staging_plans",
                "manage,read",
                "3,3,3,3,1",
                &[
                    "org:billing:manage",
                    "org:billing:read",
                    "org:email:manage",
                    "org:email:read",
                    "org:fraud:manage",
                    "org:fraud:read",
                    "org:instance:manage",
                    "org:instance:read",
                    "org:staging_plans:manage",
                ],
            ),
            (
                "o:repositories,o:projects",
                "read,create,update,delete,revoke",
                "7,21",
                &[
                    "org:repositories:read",
                    "org:repositories:create",
                    "org:repositories:update",
                    "org:projects:read",
                    "org:projects:update",
                    "org:projects:revoke",
                ],
            ),
            (
                "o:repositories,o:projects,o:webhooks,o:impersonation",
                "read,manage",
                "1,2,3",
                &["org:repositories:read", "org:projects:manage", "org:webhooks:read", "org:webhooks:manage"],
            ),
            (
                "o:repositories,uo:projects,u:goldprofileborder",
                "read,create,update,delete,revoke",
                "7,21",
                &[
                    "org:repositories:read",
                    "org:repositories:create",
                    "org:repositories:update",
                    "org:projects:read",
                    "org:projects:update",
                    "org:projects:revoke",
                ],
            ),
        ];
        for (fea, per, fpm, expected) in cases {
            assert_eq!(sorted(v2(fea, per, fpm).org_permissions()), strings(expected), "fea {fea} per {per} fpm {fpm}");
        }
    }

    #[test]
    fn v1_and_v2_say_the_same() {
        let v2 = v2("o:impersonation", "read,manage", "3");
        let v1 = access(json!({"sub": "user_1", "org_id": "org_id", "org_role": "org:admin", "org_slug": "org_slug",
                               "org_permissions": ["org:impersonation:read", "org:impersonation:manage"]}));
        assert_eq!(v1.organization, v2.organization);
        for permission in ["org:impersonation:read", "impersonation:manage", "org:org:impersonation:read"] {
            assert!(v1.has_permission(permission) && v2.has_permission(permission), "{permission}");
        }
        for role in ["admin", "org:admin", "org:org:admin"] {
            assert!(v1.has_role(role) && v2.has_role(role), "{role}");
        }
        assert!(!v2.has_role("member") && !v2.has_permission("org:impersonation:delete"));
    }

    #[test]
    fn without_an_active_organization_there_are_no_permissions() {
        let user_only = access(json!({"sub": "user_1", "v": 2, "fea": "u:impersonation,u:memberships"}));
        assert_eq!(user_only.org_permissions(), None);
        assert!(!user_only.has_role("admin") && !user_only.has_permission("org:impersonation:read"));
        let no_masks = access(json!({"sub": "user_1", "v": 2, "fea": "u:a", "o": {"id": "org_id", "rol": "admin"}}));
        assert_eq!(no_masks.org_permissions(), Some(&[][..]), "an organization and no permissions: empty");
        for odd_o in [json!("org_id"), json!([1]), json!({"id": ""}), json!({"rol": "admin"}), json!(null)] {
            assert_eq!(access(json!({"sub": "user_1", "v": 2, "o": odd_o})).organization, None, "{odd_o}");
        }
        let v1_without_list = access(json!({"sub": "user_1", "org_id": "org_1", "org_permissions": "org:a:b"}));
        assert_eq!(v1_without_list.org_permissions(), Some(&[][..]));
    }

    #[test]
    fn only_the_number_2_makes_a_v2_token() {
        let claims = |v: Value| json!({"sub": "user_1", "v": v, "org_id": "org_v1", "o": {"id": "org_v2"}});
        assert_eq!(access(claims(json!(2))).organization.unwrap().id, "org_v2");
        assert_eq!(access(claims(json!(2.0))).organization.unwrap().id, "org_v2", "as JavaScript compares");
        for v in [json!("2"), json!(1), json!(null), json!(3)] {
            assert_eq!(access(claims(v.clone())).organization.unwrap().id, "org_v1", "{v}");
        }
    }

    #[test]
    fn masks_of_any_size_least_significant_bit_first() {
        assert_eq!(mask_bits("6", 3), Some(vec![false, true, true]));
        assert_eq!(mask_bits(" 1 ", 2), Some(vec![true, false]));
        assert_eq!(mask_bits("0", 0), Some(vec![]));
        // 2^64 + 1 and 2^100: past u64, past f64's 53 bits.
        assert_eq!(mask_bits("18446744073709551617", 65).unwrap().iter().filter(|b| **b).count(), 2);
        let big = mask_bits("1267650600228229401496703205376", 101).unwrap();
        assert!(big[100] && big.iter().filter(|b| **b).count() == 1);
        for malformed in ["", " ", "-1", "1.5", "0x10", "1e3", "+3", "a", "３"] {
            assert_eq!(mask_bits(malformed, 4), None, "{malformed:?}");
        }
    }

    #[test]
    fn a_malformed_mask_grants_nothing_but_keeps_its_place() {
        let access = v2("o:a,o:b,o:c", "read,manage", "3,x,1");
        assert_eq!(sorted(access.org_permissions()), strings(&["org:a:read", "org:a:manage", "org:c:read"]));
    }

    #[test]
    fn where_the_sdk_throws_nothing_is_granted() {
        for fea in ["o:a,b", "o:a,,o:b", "o:a,", "nocolon"] {
            let access = v2(fea, "read", "1,1");
            assert_eq!(access.org_permissions(), Some(&[][..]), "{fea}");
            assert!(!access.has_feature("a") && !access.has_feature("o:a") && !access.has_permission("org:a:read"));
        }
        assert_eq!(split_by_scope(""), Ok(Scoped::default()));
    }

    #[test]
    fn features_and_plans_by_scope() {
        let access =
            access(json!({"sub": "user_1", "fea": "o:reports,u:badge,ou:export,x:other", "pla": "u:pro,o:team"}));
        for (feature, granted) in [
            ("reports", true),
            ("o:reports", true),
            ("org:reports", true),
            ("organization:reports", true),
            ("u:reports", false),
            ("user:badge", true),
            ("badge", true),
            ("org:badge", false),
            ("export", true),
            ("u:export", true),
            ("o:export", true),
            ("other", false),
            ("x:other", false),
            ("team:reports", false),
            ("", false),
        ] {
            assert_eq!(access.has_feature(feature), granted, "{feature:?}");
        }
        assert!(access.has_plan("pro") && access.has_plan("user:pro") && access.has_plan("org:team"));
        assert!(!access.has_plan("org:pro") && !access.has_plan("enterprise"));
        let none = self::access(json!({"sub": "user_1", "fea": ""}));
        assert!(!none.has_feature("reports") && !none.has_plan("pro"));
    }

    #[test]
    fn a_pending_session_is_signed_out_unless_the_setting_says_otherwise() {
        let claims = json!({"sub": "user_1", "sts": "pending", "org_id": "org_1", "org_role": "org:admin",
                            "org_permissions": ["org:a:read"], "fea": "u:a", "pla": "u:pro"});
        let out = Access::of(claims.as_object().unwrap(), PendingSessions::SignedOut);
        assert_eq!(out, Access::default());
        assert!(
            !out.has_role("admin")
                && !out.has_permission("org:a:read")
                && !out.has_feature("a")
                && !out.has_plan("pro")
        );
        let in_ = Access::of(claims.as_object().unwrap(), PendingSessions::SignedIn);
        assert_eq!(in_.user_id.as_deref(), Some("user_1"));
        assert!(
            in_.has_role("admin") && in_.has_permission("org:a:read") && in_.has_feature("a") && in_.has_plan("pro")
        );
        let active = access(json!({"sub": "user_1", "sts": "active", "fea": "u:a"}));
        assert!(active.has_feature("a"));
    }

    #[test]
    fn the_user_and_the_active_organization_of_both_token_versions() {
        let v1 = access(json!({"sub": "user_1", "org_id": "org_1", "org_role": "org:admin", "org_slug": "acme"}));
        let org = v1.organization.unwrap();
        assert_eq!(
            (v1.user_id.as_deref(), &org.id[..], org.role.as_deref(), org.slug.as_deref()),
            (Some("user_1"), "org_1", Some("org:admin"), Some("acme"))
        );
        let v2 = access(json!({"v": 2, "sub": "user_1", "o": {"id": "org_2", "rol": "member", "slg": "beta"}}));
        let org = v2.organization.unwrap();
        assert_eq!(
            (&org.id[..], org.role.as_deref(), org.slug.as_deref()),
            ("org_2", Some("org:member"), Some("beta"))
        );
        let v2_without_org = access(json!({"v": 2, "sub": "user_1", "org_id": "org_ignored"}));
        assert_eq!(v2_without_org.organization, None, "a v2 token's organization is only in o");
        for odd in [
            json!({"v": 2, "sub": "user_1", "o": {"id": 5, "rol": false}}),
            json!({"sub": "user_1", "org_id": {"id": 1}}),
        ] {
            assert_eq!(access(odd.clone()).organization, None, "{odd}");
        }
    }

    #[test]
    fn signed_out_grants_nothing() {
        for claims in [json!({}), json!({"sub": ""}), json!({"sub": 7, "fea": "u:a", "org_id": "org_1"})] {
            let access = access(claims.clone());
            assert_eq!(access, Access::default(), "{claims}");
            assert!(!access.has_feature("a") && !access.has_role("admin"));
        }
    }
}
