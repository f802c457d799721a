//! Unit tests of the ring driver: MSG_RING ids and the shape of a batched wait.

use super::*;

const BATCH: CompletionBatch = CompletionBatch {
    wait_for: 32,
    max_delay_us: 50,
};

/// Runtime ids only grow: a refused wake-up to the runtime made after the 2^32nd must not
/// come back as another id (whose eventfd would be written, and the target's not).
#[test]
fn a_refused_wake_up_names_its_target_whatever_its_id() {
    for id in [1, 0xffff_ffff, (1 << 32) + 5, (1 << 62) - 1] {
        let user_data = msg_sent_user_data(id);
        assert_eq!(msg_sent_target(user_data), Some(id), "id {id:#x}");
        assert!(
            user_data & (1 << 63) != 0,
            "an op's user_data never has the top bit"
        );
        assert!(user_data < MSG_WAKE_TOKEN, "collides with a reserved token");
    }
    assert_eq!(msg_sent_target(MSG_WAKE_TOKEN), None);
}

#[test]
fn without_batching_a_wait_wants_one_completion() {
    assert_eq!(wait_shape(None, None), (1, 0));
    assert_eq!(wait_shape(None, Some(Duration::from_secs(1))), (1, 0));
}

#[test]
fn a_batched_wait_wants_the_batch_within_max_delay() {
    assert_eq!(wait_shape(Some(BATCH), None), (32, 50));
    assert_eq!(
        wait_shape(Some(BATCH), Some(Duration::from_secs(1))),
        (32, 50)
    );
}

#[test]
fn a_timer_due_sooner_shortens_the_minimum_wait() {
    let due_in = |micros| wait_shape(Some(BATCH), Some(Duration::from_micros(micros)));
    assert_eq!(due_in(20), (32, 20));
    // Due now: no minimum wait at all, and no batch to wait for.
    assert_eq!(due_in(0), (1, 0));
}
