//! The tracker behind the ct action, through the burst runner: state bits
//! reach the recirculated pass, a full table's refusal is a counted drop.

use std::sync::Arc;

use super::frames::*;
use crate::action::Action;
use crate::conntrack::{ConnTable, Conntrack, ConntrackConfig};
use crate::context::ct_state::{ESTABLISHED, REPLY};
use crate::datapath::tests::{port, Harness};
use crate::datapath::VlanMode;
use crate::flow_cache::KeyFields;
use crate::stage::{Stage, StageBurst, StageEnv};
use crate::wire::ip_proto;
use crate::DropReason;

/// Untracked frames go through ct(zone=1, commit); tracked ones to port 1,
/// or to port 0 when they are established replies (so the test sees the
/// bits the tracker set).
struct CommitThenOutput;

impl Stage for CommitThenOutput {
    fn name(&self) -> &'static str {
        "commit-then-output"
    }
    fn reads(&self) -> KeyFields {
        KeyFields::L2
            .with(KeyFields::L3)
            .with(KeyFields::L4)
            .with(KeyFields::CT)
    }
    fn run(&self, burst: &mut StageBurst<'_>, _env: &mut StageEnv<'_>) {
        for &i in burst.active {
            let ctx = &mut burst.ctxs[i as usize];
            let action = match ctx.ct.state {
                0 => Action::Ct {
                    zone: 1,
                    commit: true,
                    nat: crate::action::CtNat::None,
                },
                s if s & (ESTABLISHED | REPLY) == ESTABLISHED | REPLY => Action::Output(0),
                _ => Action::Output(1),
            };
            ctx.actions.push(action);
        }
    }
}

#[test]
fn the_ct_action_tracks_and_a_full_table_drops_new_connections() {
    let mut h = Harness::new((0..2).map(|i| port(i, VlanMode::default())).collect());
    h.dp.set_chain(0, Box::new([Arc::new(CommitThenOutput)]));
    h.dp.set_chain(1, Box::new([Arc::new(CommitThenOutput)]));
    let table = Arc::new(ConnTable::with_config(ConntrackConfig {
        limit: 2,
        ..ConntrackConfig::default()
    }));
    h.runner
        .set_conntrack(Box::new(Conntrack::new(Arc::clone(&table))));
    let out = |p: u16| ipv4(A, B, ip_proto::UDP, &udp(p, 53));
    let back = |p: u16| ipv4(B, A, ip_proto::UDP, &udp(53, p));
    for p in [1, 2] {
        assert_eq!(h.outs(0, &out(p), 1), vec![1]);
        assert_eq!(h.outs(1, &back(p), 1), vec![0], "an established reply");
    }
    assert_eq!(table.len(), 2);
    // Both are established: a third connection finds no room.
    assert_eq!(h.dropped(0, &out(3)), Some(DropReason::CtTableFull));
    assert_eq!(table.counters().table_full, 1);
    assert_eq!(
        h.outs(1, &back(1), 1),
        vec![0],
        "established ones keep working"
    );
}
