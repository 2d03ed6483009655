//! Listing every user of Clerk's Backend API by `limit`/`offset`, oldest first, without missing
//! one. A user deleted meanwhile moves every later user one offset down, so a page asked from
//! where the last one ended could skip users. Each page is therefore asked from one place before
//! that end and must begin with a user already listed: then it continues the listing without a
//! gap. When it does not, users moved; the page is asked again from further back.
//!
//! The state is what a checkpoint keeps, so an interrupted sync resumes where it stopped.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// How far before the end of the listing so far a page is asked from.
const OVERLAP: usize = 1;

/// The smallest page that still moves the listing on past its overlap.
pub const MIN_LIMIT: usize = OVERLAP + 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// Where the listing so far ends.
    pub offset: usize,
    /// Every user listed so far.
    pub listed: BTreeSet<String>,
    /// The last page was short: there is nothing more to list.
    pub complete: bool,
    /// How far before `offset` the next page is asked from.
    #[serde(skip, default = "overlap")]
    back: usize,
}

fn overlap() -> usize {
    OVERLAP
}

/// What a page brought.
#[derive(Debug, PartialEq, Eq)]
pub enum Page {
    /// It continues the listing; these of its users are new to it, in the page's order.
    Continues(Vec<usize>),
    /// It does not begin with a user already listed: users moved down. Ask again.
    Moved,
}

impl Default for Listing {
    fn default() -> Self {
        Self::new()
    }
}

impl Listing {
    pub fn new() -> Self {
        Listing { offset: 0, listed: BTreeSet::new(), complete: false, back: OVERLAP }
    }

    /// The offset to ask the next page from.
    pub fn next_offset(&self) -> usize {
        self.offset.saturating_sub(self.back)
    }

    /// Takes the page of (at most `limit`) users `ids` asked from `asked` (`next_offset()`).
    pub fn take(&mut self, asked: usize, ids: &[&str], limit: usize) -> Page {
        let anchored = asked == 0 || ids.first().is_some_and(|first| self.listed.contains(*first));
        if !anchored {
            // Further back each time, down to 0 at worst: the first page is anchored by definition.
            self.back = (self.back * 4).max(limit);
            return Page::Moved;
        }
        let new: Vec<usize> = (0..ids.len()).filter(|&i| !self.listed.contains(ids[i])).collect();
        for &i in &new {
            self.listed.insert(ids[i].to_owned());
        }
        self.offset = asked + ids.len();
        self.complete = ids.len() < limit;
        self.back = OVERLAP;
        Page::Continues(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Lists `users` (oldest first) by pages of `limit`; before each request, `before_request`
    /// may change them (delete some, add new ones at the end). The listing, and the requests made.
    fn list(
        users: &mut Vec<String>,
        limit: usize,
        mut before_request: impl FnMut(usize, &mut Vec<String>),
    ) -> (Listing, usize) {
        let mut listing = Listing::new();
        let mut requests = 0;
        while !listing.complete {
            before_request(requests, users);
            requests += 1;
            assert!(requests < 10_000, "the listing must end");
            let asked = listing.next_offset();
            let page: Vec<&str> = users.iter().skip(asked).take(limit).map(String::as_str).collect();
            listing.take(asked, &page, limit);
        }
        (listing, requests)
    }

    fn users(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("user_{i:04}")).collect()
    }

    #[test]
    fn an_unchanging_listing_costs_one_request_per_page() {
        let mut all = users(1000);
        let (listing, requests) = list(&mut all, 100, |_, _| {});
        assert_eq!(listing.listed.len(), 1000);
        assert_eq!(requests, 11, "ten full pages (each overlapping the last by one) and a short one");
        assert!(listing.complete);
    }

    #[test]
    fn a_deletion_behind_the_listing_is_noticed_and_nobody_is_skipped() {
        let mut all = users(300);
        let (listing, requests) = list(&mut all, 100, |request, users| {
            if request == 2 {
                users.drain(10..15);
            }
        });
        let expected: BTreeSet<String> =
            users(300).into_iter().filter(|u| !(10..15).any(|i| *u == format!("user_{i:04}"))).collect();
        assert!(expected.is_subset(&listing.listed), "every user that stayed is listed");
        assert!(requests > 4, "the moved page was asked again");
    }

    #[test]
    fn an_empty_listing_is_complete_at_once() {
        let (listing, requests) = list(&mut Vec::new(), 100, |_, _| {});
        assert_eq!((listing.listed.len(), requests, listing.complete), (0, 1, true));
    }

    #[test]
    fn a_checkpoint_resumes_where_the_listing_stopped() {
        let mut listing = Listing::new();
        let page: Vec<String> = users(100);
        listing.take(0, &page.iter().map(String::as_str).collect::<Vec<_>>(), 100);
        let saved = serde_json::to_string(&listing).unwrap();
        let resumed: Listing = serde_json::from_str(&saved).unwrap();
        assert_eq!(resumed, listing);
        assert_eq!(resumed.next_offset(), 99);
    }

    proptest! {
        /// Whatever is deleted or added while it runs, a listing has every user that was there
        /// from its start to its end, and only users that were there at some time.
        #[test]
        fn no_user_that_stays_is_ever_missed(
            n in 0usize..400,
            limit in MIN_LIMIT..60,
            changes in prop::collection::vec((0usize..40, 0usize..400, 0usize..4, any::<bool>()), 0..12),
        ) {
            let mut all = users(n);
            let mut ever: BTreeSet<String> = all.iter().cloned().collect();
            let mut deleted: BTreeSet<String> = BTreeSet::new();
            let mut added = n;
            let (listing, _) = list(&mut all, limit, |request, users| {
                for &(at, position, count, delete) in &changes {
                    if at != request {
                        continue;
                    }
                    if delete && !users.is_empty() {
                        let from = position % users.len();
                        let to = (from + count).min(users.len());
                        deleted.extend(users.drain(from..to));
                    } else {
                        for _ in 0..count {
                            let id = format!("user_{added:04}");
                            added += 1;
                            ever.insert(id.clone());
                            users.push(id);
                        }
                    }
                }
            });
            for user in &all {
                prop_assert!(listing.listed.contains(user), "{user} stayed and was missed");
            }
            prop_assert!(listing.listed.is_subset(&ever));
            prop_assert!(listing.listed.iter().all(|u| all.contains(u) || deleted.contains(u)));
        }
    }
}
