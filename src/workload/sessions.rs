//! Multi-turn sessions: `users` concurrent users, each holding conversations of `turns`
//! turns. Every turn sends the whole history (the earlier user messages and the assistant
//! text actually received) plus a new user message, so its prompt grows turn by turn; a
//! think time drawn from a distribution is waited before each later turn, counted from the
//! end of the previous response (AIPerf's and inference-perf's semantics).
//!
//! What a turn says is a pure function of `(seed, session, turn)`: a synthetic user message
//! of `--input-tokens` words (or a dataset entry when `--dataset` is given) asking for
//! `--output-tokens`. Only the replies depend on the server.

use super::text::{flatten, mix, Message};
use super::{RequestSpec, Source, Workload};
use crate::util::Rng;
use crate::workload::dist::ValueDist;

const SESSION_SALT: u64 = 0x5E55_1045_7A1C;
const THINK_SALT: u64 = 0x7817_4C71_3E00;

/// The shape of the sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPlan {
    pub users: u32,
    pub turns: u32,
    /// Think time before each later turn, ms.
    pub think_ms: ValueDist,
}

/// One conversation in progress.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    pub session: u64,
    /// Turns sent so far.
    pub turn: u32,
    messages: Vec<Message>,
    /// Client token count of each message's content.
    counts: Vec<u32>,
}

impl SessionPlan {
    /// Think time before turn `turn` (≥ 1) of `session`, seconds (0 before the first turn).
    pub fn think_s(&self, seed: u64, session: u64, turn: u32) -> f64 {
        if turn == 0 {
            return 0.0;
        }
        let mut rng = Rng::stream(seed ^ THINK_SALT, mix(session, u64::from(turn)));
        self.think_ms.sample(&mut rng) / 1000.0
    }
}

impl Conversation {
    pub fn new(session: u64) -> Self {
        Conversation {
            session,
            ..Default::default()
        }
    }

    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The next turn's request: the history plus a new user message. The message is added
    /// to the history; call [`Conversation::reply`] with the answer before the next turn.
    pub fn next_turn(&mut self, w: &Workload) -> RequestSpec {
        let (text, count, max_tokens, line) = user_message(w, self.session, self.turn);
        self.messages.push(Message::new("user", text));
        self.counts.push(count);
        self.turn += 1;
        let prompt = flatten(&self.messages);
        let input_tokens = if w.chat {
            self.counts.iter().sum()
        } else {
            w.tokenizer.count(&prompt)
        };
        RequestSpec {
            prompt,
            messages: Some(self.messages.clone()),
            input_tokens,
            max_tokens,
            source_line: line,
            keep_reply: true,
        }
    }

    /// Record the assistant text received for the last turn.
    pub fn reply(&mut self, w: &Workload, text: String) {
        self.counts.push(w.tokenizer.count(&text));
        self.messages.push(Message::new("assistant", text));
    }
}

/// The user message of `turn` in `session`: a dataset entry when the workload has a
/// dataset, else synthetic words. Returns (text, client tokens, max_tokens, dataset line).
pub fn user_message(w: &Workload, session: u64, turn: u32) -> (String, u32, u32, Option<u64>) {
    let turns = w.sessions.as_ref().map(|p| p.turns).unwrap_or(1);
    let mut rng = Rng::stream(w.seed ^ SESSION_SALT, mix(session, u64::from(turn)));
    if let Source::Dataset { data, output } = &w.source {
        let e = data.entry(session * u64::from(turns) + u64::from(turn));
        let max_tokens = match (output, e.output_tokens) {
            (Some(d), _) => d.sample(&mut rng),
            (None, Some(n)) => n,
            (None, None) => w.output.sample(&mut rng),
        };
        let count = w.tokenizer.count(&e.text);
        return (e.text.clone(), count, max_tokens, Some(e.line));
    }
    let n = w.input.sample(&mut rng);
    let max_tokens = w.output.sample(&mut rng);
    let (text, count) = w.words_of(n, &mut rng);
    (text, count, max_tokens, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{LengthDist, Tokenizer};

    #[test]
    fn history_grows_with_the_replies_received() {
        let tok = Tokenizer::load("cl100k_base").unwrap();
        let plan = SessionPlan {
            users: 2,
            turns: 3,
            think_ms: ValueDist::parse("uniform:100,200").unwrap(),
        };
        let w = Workload::new(
            LengthDist::parse("10").unwrap(),
            LengthDist::parse("5").unwrap(),
            3,
            tok,
        )
        .unwrap()
        .with_chat(true)
        .with_sessions(Some(plan.clone()));
        let mut c = Conversation::new(7);
        let t0 = c.next_turn(&w);
        assert_eq!((t0.input_tokens, t0.max_tokens), (10, 5));
        assert_eq!(t0.messages.as_ref().unwrap().len(), 1);
        c.reply(&w, " the of and".into());
        let t1 = c.next_turn(&w);
        let m = t1.messages.as_ref().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m[1].role.as_str(), m[1].content.as_str()),
            ("assistant", " the of and")
        );
        assert_eq!(t1.input_tokens, 10 + 3 + 10);
        assert_ne!(m[0].content, m[2].content);
        // the same (seed, session, turn) says the same; think times are in range and vary
        let mut again = Conversation::new(7);
        assert_eq!(again.next_turn(&w).prompt, t0.prompt);
        assert_eq!(plan.think_s(3, 7, 0), 0.0);
        let th: Vec<f64> = (1..20).map(|t| plan.think_s(3, 7, t)).collect();
        assert!(th.iter().all(|&s| (0.1..=0.2).contains(&s)));
        assert!(th.windows(2).any(|p| p[0] != p[1]));
    }
}
