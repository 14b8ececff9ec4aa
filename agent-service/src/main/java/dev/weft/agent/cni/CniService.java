package dev.weft.agent.cni;

import dev.weft.agent.health.LoopHeartbeat;
import dev.weft.proto.cni.v1.Attachment;
import dev.weft.proto.cni.v1.CniError;
import dev.weft.proto.cni.v1.CniCall;
import dev.weft.proto.cni.v1.CniReply;
import dev.weft.proto.cni.v1.CniRequest;
import dev.weft.proto.cni.v1.CniResponse;
import dev.weft.proto.cni.v1.CniResult;
import dev.weft.proto.cni.v1.ErrorCode;
import dev.weft.proto.cni.v1.GcRequest;
import dev.weft.proto.cni.v1.GcResponse;
import dev.weft.proto.cni.v1.GcResult;
import org.jboss.logging.Logger;

/**
 * The CNI commands as the shim sends them ({@link CniCall} -> {@link CniReply}, see cni.proto). Served only on the
 * agent's CNI UNIX socket ({@link CniSocketServer}), on a worker pool: the calls block on netlink tools and OVSDB.
 * Every failure becomes a CNI error in the reply, so the shim can always print a spec error object.
 */
final class CniService {

    private static final Logger LOG = Logger.getLogger(CniService.class);
    private final PodNetworkService pods;
    private final AttachmentGc gc;
    /** Each request is one unit of work for the agent's watchdog (liveness DOWN if one never ends). */
    private final LoopHeartbeat heartbeat = new LoopHeartbeat("cni-requests");
    private final CniRequestRecorder recorder;

    /** Where each request's command, outcome and duration go (the agent's metrics). */
    interface CniRequestRecorder {
        /** @param result {@code ok} or the CNI error code's name */
        void record(String command, String result, long nanos);
    }

    CniService(PodNetworkService pods, AttachmentGc gc, CniRequestRecorder recorder) {
        this.pods = pods;
        this.gc = gc;
        this.recorder = recorder;
    }

    private interface Op {
        CniResult run() throws CniFailure;
    }

    LoopHeartbeat heartbeat() {
        return heartbeat;
    }

    /** Answers one call; never throws for a CNI failure (it is in the reply). */
    CniReply handle(CniCall call) {
        return switch (call.getCallCase()) {
            case ADD -> CniReply.newBuilder().setResponse(add(call.getAdd())).build();
            case CHECK -> CniReply.newBuilder().setResponse(check(call.getCheck())).build();
            case DEL -> CniReply.newBuilder().setResponse(del(call.getDel())).build();
            case GC -> CniReply.newBuilder().setGc(gc(call.getGc())).build();
            case CALL_NOT_SET -> CniReply.newBuilder().setResponse(error(ErrorCode.DECODING_FAILURE,
                    "the CNI call names no command (add, check, del or gc): is the plugin from another Weft version?", "")).build();
        };
    }

    private CniResponse answer(String what, CniRequest req, Op op) {
        CniResponse response;
        long start = System.nanoTime();
        try (var unit = heartbeat.begin(what + " " + req.getContainerId() + "/" + req.getIfname())) {
            response = CniResponse.newBuilder().setResult(op.run()).build();
        } catch (CniFailure f) {
            LOG.infof("CNI %s %s/%s failed (%d): %s", what, req.getContainerId(), req.getIfname(), f.code().getNumber(), f.getMessage());
            response = error(f.code(), f.getMessage(), f.details());
        } catch (RuntimeException e) {
            LOG.errorf(e, "CNI %s %s failed unexpectedly", what, req.getContainerId());
            response = error(ErrorCode.INTERNAL_ERROR, "internal error: " + e, "");
        }
        recorder.record(what, response.hasError() ? response.getError().getCode().name() : "ok", System.nanoTime() - start);
        return response;
    }

    static CniResponse error(ErrorCode code, String msg, String details) {
        return CniResponse.newBuilder().setError(CniError.newBuilder().setCode(code).setMsg(msg).setDetails(details)).build();
    }

    CniResponse add(CniRequest request) {
        return answer("ADD", request, () -> pods.add(CniInvocation.parse(request, true)));
    }

    CniResponse check(CniRequest request) {
        return answer("CHECK", request, () -> {
            pods.check(CniInvocation.parse(request, true));
            return CniResult.getDefaultInstance();
        });
    }

    GcResponse gc(GcRequest request) {
        GcResponse response;
        long start = System.nanoTime();
        try (var unit = heartbeat.begin("GC")) {
            AttachmentGc.Outcome o = gc.gc(GcInvocation.parse(request));
            GcResult.Builder r = GcResult.newBuilder();
            o.released().forEach(k -> r.addReleased(attachment(k)));
            o.keptPodAlive().forEach(k -> r.addKeptPodAlive(attachment(k)));
            response = GcResponse.newBuilder().setResult(r).build();
        } catch (CniFailure f) {
            LOG.infof("CNI GC failed (%d): %s", f.code().getNumber(), f.getMessage());
            response = GcResponse.newBuilder().setError(error(f.code(), f.getMessage(), f.details()).getError()).build();
        } catch (RuntimeException e) {
            LOG.errorf(e, "CNI GC failed unexpectedly");
            response = GcResponse.newBuilder().setError(error(ErrorCode.INTERNAL_ERROR, "internal error: " + e, "").getError()).build();
        }
        recorder.record("GC", response.hasError() ? response.getError().getCode().name() : "ok", System.nanoTime() - start);
        return response;
    }

    private static Attachment attachment(AttachmentGc.Known k) {
        return Attachment.newBuilder().setContainerId(k.id().containerId()).setIfname(k.id().ifName())
                .setPodNamespace(k.podNamespace()).setPodName(k.podName()).setIp(k.ip()).build();
    }

    CniResponse del(CniRequest request) {
        return answer("DEL", request, () -> {
            pods.del(CniInvocation.parse(request, false));
            return CniResult.getDefaultInstance();
        });
    }
}
