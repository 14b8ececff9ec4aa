package dev.weft.agent.pipeline;

import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.Match;
import dev.weft.agent.openflow.OfAction;
import dev.weft.agent.openflow.OfField;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Builds a flow so that the code reads like the flow:
 * {@code flow(INGRESS_RULE, 200).match(m -> m.ip().reg(1, 6)).conjunction(1, 2, 2).build()}.
 */
public final class FlowBuilder {

    private final PipelineTable table;
    private final int priority;
    private Match match = Match.builder().build();
    private final List<OfAction> actions = new ArrayList<>();
    private int gotoTable = -1;
    private long cookie;

    private FlowBuilder(PipelineTable table, int priority) {
        this.table = table;
        this.priority = priority;
    }

    public static FlowBuilder flow(PipelineTable table, int priority) {
        return new FlowBuilder(table, priority);
    }

    public FlowBuilder cookie(Cookie c) {
        this.cookie = c.value();
        return this;
    }

    public FlowBuilder match(UnaryOperator<Match.Builder> m) {
        this.match = m.apply(Match.builder()).build();
        return this;
    }

    public FlowBuilder loadReg(int reg, int ofs, int nBits, long value) {
        actions.add(new OfAction.RegLoad(OfField.reg(reg, true), ofs, nBits, value));
        return this;
    }

    public FlowBuilder loadReg(int reg, long value) {
        return loadReg(reg, 0, 32, value);
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

    public FlowBuilder decTtl() {
        actions.add(new OfAction.DecTtl());
        return this;
    }

    public FlowBuilder ct(boolean commit, int zone, PipelineTable next, boolean nat) {
        actions.add(new OfAction.Ct(commit, zone, next == null ? -1 : next.id, nat ? List.of(new OfAction.Nat()) : List.of()));
        return this;
    }

    public FlowBuilder conjunction(long id, int clause, int nClauses) {
        actions.add(new OfAction.Conjunction(id, clause, nClauses));
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

    public FlowBuilder outputReg(int reg) {
        actions.add(new OfAction.OutputReg(OfField.reg(reg, true), 0, 32));
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
        return new FlowMod(table.id, priority, cookie, match, actions, gotoTable);
    }
}
