package dev.weft.agent.pipeline;

import dev.weft.agent.openflow.FlowMod;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static dev.weft.agent.openflow.Match.CT_EST;
import static dev.weft.agent.openflow.Match.CT_INV;
import static dev.weft.agent.openflow.Match.CT_NEW;
import static dev.weft.agent.openflow.Match.CT_TRK;
import static dev.weft.agent.pipeline.FlowBuilder.flow;
import static dev.weft.agent.pipeline.FlowPriority.HIGH;
import static dev.weft.agent.pipeline.FlowPriority.LOW;
import static dev.weft.agent.pipeline.FlowPriority.MISS;
import static dev.weft.agent.pipeline.FlowPriority.NORMAL;
import static dev.weft.agent.pipeline.PipelineFields.CT_ZONE;
import static dev.weft.agent.pipeline.PipelineFields.TARGET_OF_PORT_FIELD;
import static dev.weft.agent.pipeline.PipelineTable.*;

/**
 * The flows every bridge has whatever the state: each table's miss flow (drop, or on to the next stage), conntrack
 * (zone, state, commit), established traffic past the policy tables, ARP to NORMAL, and Output to the port in
 * {@code TargetOFPortField}. Installed once, when the datapath is created.
 */
final class PipelineDefaultsFeature implements PipelineFeature {

    static final long OWNER = FlowStore.owner(Cookie.Category.PIPELINE, 0);
    private static final Declaration DECLARATION = new Declaration("PipelineDefaults",
            PipelineTable.ordered(), Set.of(Cookie.Category.PIPELINE));

    private final Datapath datapath;

    PipelineDefaultsFeature(Datapath datapath) {
        this.datapath = datapath;
    }

    @Override
    public Declaration declaration() {
        return DECLARATION;
    }

    @Override
    public void registered() {
        datapath.apply(this, OWNER, flows());
    }

    static List<FlowMod> flows() {
        Cookie.Category c = Cookie.Category.PIPELINE;
        List<FlowMod> f = new ArrayList<>();
        for (PipelineTable t : PipelineTable.ordered()) {
            FlowBuilder miss = flow(t, MISS).cookie(c, 0);
            if (t.missNext >= 0) {
                miss.resubmit(PipelineTable.byId(t.missNext).orElseThrow());
            }
            f.add(miss.build());
        }
        f.add(flow(ARP_RESPONDER, LOW).cookie(c, 0).match(m -> m.arp()).normal().build());
        f.add(flow(CONNTRACK_ZONE, NORMAL).cookie(c, 0).match(m -> m.ip())
                .ct(ct -> ct.table(CONNTRACK_STATE).zone(CT_ZONE).nat()).build());
        f.add(flow(CONNTRACK_STATE, HIGH).cookie(c, 0).match(m -> m.ip().ctState(CT_INV | CT_TRK, CT_INV | CT_TRK))
                .drop().build());
        // established connections were allowed when they began: past the policy rules
        f.add(flow(EGRESS_RULE, HIGH).cookie(c, 0).match(m -> m.ip().ctState(CT_EST, CT_NEW | CT_EST))
                .resubmit(L3_FORWARDING).build());
        f.add(flow(INGRESS_RULE, HIGH).cookie(c, 0).match(m -> m.ip().ctState(CT_EST, CT_NEW | CT_EST))
                .resubmit(CONNTRACK_COMMIT).build());
        f.add(flow(CONNTRACK_COMMIT, NORMAL).cookie(c, 0).match(m -> m.ip().ctState(CT_NEW | CT_TRK, CT_NEW | CT_TRK))
                .ct(ct -> ct.commit().zone(CT_ZONE)).resubmit(OUTPUT).build());
        f.add(flow(OUTPUT, NORMAL).cookie(c, 0).match(m -> m.ip()).output(TARGET_OF_PORT_FIELD).build());
        return f;
    }
}
