package dev.weft.agent.pipeline;

import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.Match;
import dev.weft.agent.openflow.OfAction;
import dev.weft.agent.openflow.OfField;
import dev.weft.agent.openflow.RegField;
import dev.weft.agent.openflow.RegMark;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Builds a flow so that the code reads like the flow in docs/agent-datapath.md:
 * {@code flow(CONNTRACK_ZONE, NORMAL).match(m -> m.ip()).ct(ct -> ct.table(CONNTRACK_STATE).zone(CT_ZONE).nat())}
 * is {@code table=30, priority=200,ip actions=ct(table=31,zone=65520,nat)}. Registers by name
 * ({@link PipelineFields}), priorities by meaning ({@link FlowPriority}).
 */
public final class FlowBuilder {

    private final PipelineTable table;
    private final FlowPriority priority;
    private Match match = Match.builder().build();
    private final List<OfAction> actions = new ArrayList<>();
    private int gotoTable = -1;
    private long cookie;

    private FlowBuilder(PipelineTable table, FlowPriority priority) {
        this.table = table;
        this.priority = priority;
    }

    public static FlowBuilder flow(PipelineTable table, FlowPriority priority) {
        return new FlowBuilder(table, priority);
    }

    public FlowBuilder cookie(Cookie c) {
        this.cookie = c.value();
        return this;
    }

    /** The cookie of a feature's object; the datapath adds its round when installing. */
    public FlowBuilder cookie(Cookie.Category category, long objectId) {
        return cookie(Cookie.of(category, objectId));
    }

    public FlowBuilder match(UnaryOperator<Match.Builder> m) {
        this.match = m.apply(Match.builder()).build();
        return this;
    }

    public FlowBuilder match(Match m) {
        this.match = m;
        return this;
    }

    /** {@code load:<mark's value>->NXM_NX_REGn[<field's bits>]}. */
    public FlowBuilder load(RegMark mark) {
        actions.add(OfAction.RegLoad.of(mark));
        return this;
    }

    public FlowBuilder load(RegField field, long value) {
        actions.add(OfAction.RegLoad.of(field, value));
        return this;
    }

    public FlowBuilder setEthSrc(String mac) {
        actions.add(new OfAction.SetField(OfField.ETH_SRC, Match.parseMac(mac)));
        return this;
    }

    public FlowBuilder setEthDst(String mac) {
        actions.add(new OfAction.SetField(OfField.ETH_DST, Match.parseMac(mac)));
        return this;
    }

    public FlowBuilder setTunDst(String ip) {
        actions.add(new OfAction.SetField(OfField.TUN_IPV4_DST, Match.parseIpv4(ip)));
        return this;
    }

    /** {@code set_field:value->field} for any field the encoder knows (arp_op, arp_sha, arp_spa, ...). */
    public FlowBuilder setField(OfField field, long value) {
        actions.add(new OfAction.SetField(field, value));
        return this;
    }

    /** {@code move:src[]->dst[]}: the whole field (both of one width). */
    public FlowBuilder move(OfField src, OfField dst) {
        if (src.length() != dst.length()) {
            throw new IllegalArgumentException("move between fields of different widths: " + src + " -> " + dst);
        }
        actions.add(new OfAction.RegMove(src, 0, dst, 0, src.length() * 8));
        return this;
    }

    /** {@code IN_PORT}: back out of the port the packet came in on (an ARP reply). */
    public FlowBuilder outputInPort() {
        actions.add(new OfAction.Output(OfAction.OFPP_IN_PORT));
        return this;
    }

    /** {@code meter:ID}: rate-limits what follows (must come first: Open vSwitch applies it before the actions). */
    public FlowBuilder meter(int meterId) {
        actions.add(new OfAction.Meter(meterId));
        return this;
    }

    /** {@code controller(max_len=N)}: a packet-in to the agent, at most {@code maxLen} bytes of the packet. */
    public FlowBuilder controller(int maxLen) {
        actions.add(new OfAction.Controller(maxLen));
        return this;
    }

    public FlowBuilder decTtl() {
        actions.add(new OfAction.DecTtl());
        return this;
    }

    /** {@code ct(c -> c.commit().zone(CT_ZONE))} is {@code ct(commit,zone=65520)}. */
    public FlowBuilder ct(UnaryOperator<Ct> ct) {
        actions.add(ct.apply(new Ct()).build());
        return this;
    }

    public FlowBuilder conjunction(long id, int clause, int nClauses) {
        actions.add(new OfAction.Conjunction(id, clause, nClauses));
        return this;
    }

    public FlowBuilder conjunctions(Collection<? extends OfAction.Conjunction> conjunctions) {
        actions.addAll(conjunctions);
        return this;
    }

    public FlowBuilder resubmit(PipelineTable next) {
        actions.add(new OfAction.Resubmit(next.id));
        return this;
    }

    public FlowBuilder normal() {
        actions.add(new OfAction.Output(OfAction.OFPP_NORMAL));
        return this;
    }

    /** {@code output:NXM_NX_REGn[]}: to the port the field holds. */
    public FlowBuilder output(RegField port) {
        actions.add(OfAction.OutputReg.of(port));
        return this;
    }

    /** {@code group:N}: through an OpenFlow group (a Service's select group picks an endpoint). */
    public FlowBuilder group(int groupId) {
        actions.add(new OfAction.Group(groupId));
        return this;
    }

    /** {@code learn(...)}: Open vSwitch adds (or refreshes) a flow made from this packet (Service session affinity). */
    public FlowBuilder learn(OfAction.Learn learn) {
        actions.add(learn);
        return this;
    }

    public FlowBuilder gotoTable(PipelineTable next) {
        this.gotoTable = next.id;
        return this;
    }

    /** No action: the packet is dropped. */
    public FlowBuilder drop() {
        actions.clear();
        return this;
    }

    public FlowMod build() {
        return new FlowMod(table.id, priority.value, cookie, match, actions, gotoTable);
    }

    /** The arguments of a {@code ct()} action, named as ovs-ofctl writes them. */
    public static final class Ct {
        private boolean commit;
        private PipelineTable table;
        private int zone = -1;
        private boolean nat;
        private OfAction.NatTo natTo;
        private long mark = -1;

        private Ct() {
        }

        /** {@code nat(dst=IP:PORT)}: DNAT a new connection (committed) to an endpoint. */
        public Ct natDst(String ipv4, int port) {
            natTo = new OfAction.NatTo(false, dev.weft.agent.openflow.Match.parseIpv4(ipv4), port);
            return this;
        }

        /** {@code nat(src=IP)}: SNAT a new connection (committed) to this address, the port kept when free. */
        public Ct natSrc(String ipv4) {
            natTo = new OfAction.NatTo(true, dev.weft.agent.openflow.Match.parseIpv4(ipv4), 0);
            return this;
        }

        /** {@code exec(set_field:MARK->ct_mark)}: the connection's mark, committed with it. */
        public Ct setMark(long ctMark) {
            mark = ctMark;
            return this;
        }

        /** Commit the connection to conntrack. */
        public Ct commit() {
            commit = true;
            return this;
        }

        /** Continue in this table after conntrack (recirculation); without it the pipeline goes on unchanged. */
        public Ct table(PipelineTable next) {
            table = next;
            return this;
        }

        public Ct zone(int z) {
            if (z < 0 || z > 0xffff) {
                throw new IllegalArgumentException("bad conntrack zone " + z);
            }
            zone = z;
            return this;
        }

        /** Apply the connection's NAT (reverse NAT of replies). */
        public Ct nat() {
            nat = true;
            return this;
        }

        OfAction.Ct build() {
            if (zone < 0) {
                throw new IllegalArgumentException("ct() without a zone");
            }
            if ((natTo != null || mark >= 0) && !commit) {
                throw new IllegalArgumentException("nat(dst=...) and a ct_mark need ct(commit)");
            }
            List<OfAction> nested = new ArrayList<>();
            if (nat) {
                nested.add(new OfAction.Nat());
            }
            if (natTo != null) {
                nested.add(natTo);
            }
            if (mark >= 0) {
                nested.add(new OfAction.SetField(OfField.CT_MARK, mark));
            }
            return new OfAction.Ct(commit, zone, table == null ? -1 : table.id, nested);
        }
    }
}
