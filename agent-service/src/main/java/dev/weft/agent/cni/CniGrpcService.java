package dev.weft.agent.cni;

import dev.weft.agent.health.LoopHeartbeat;
import dev.weft.proto.cni.v1.Attachment;
import dev.weft.proto.cni.v1.CniError;
import dev.weft.proto.cni.v1.CniGrpc;
import dev.weft.proto.cni.v1.CniRequest;
import dev.weft.proto.cni.v1.CniResponse;
import dev.weft.proto.cni.v1.CniResult;
import dev.weft.proto.cni.v1.ErrorCode;
import dev.weft.proto.cni.v1.GcRequest;
import dev.weft.proto.cni.v1.GcResponse;
import dev.weft.proto.cni.v1.GcResult;
import io.grpc.stub.StreamObserver;
import org.jboss.logging.Logger;

/**
 * The Cni gRPC service as the shim sees it. Served only on the agent's CNI UNIX socket (not the HTTP port), on a
 * worker pool: the calls block on netlink tools and OVSDB. Every failure becomes a CNI error in the response, never a
 * gRPC error, so the shim can always print a spec error object.
 */
final class CniGrpcService extends CniGrpc.CniImplBase {

    private static final Logger LOG = Logger.getLogger(CniGrpcService.class);
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

    CniGrpcService(PodNetworkService pods, AttachmentGc gc, CniRequestRecorder recorder) {
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

    private void answer(String what, CniRequest req, StreamObserver<CniResponse> out, Op op) {
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
        out.onNext(response);
        out.onCompleted();
    }

    static CniResponse error(ErrorCode code, String msg, String details) {
        return CniResponse.newBuilder().setError(CniError.newBuilder().setCode(code).setMsg(msg).setDetails(details)).build();
    }

    @Override
    public void cmdAdd(CniRequest request, StreamObserver<CniResponse> out) {
        answer("ADD", request, out, () -> pods.add(CniInvocation.parse(request, true)));
    }

    @Override
    public void cmdCheck(CniRequest request, StreamObserver<CniResponse> out) {
        answer("CHECK", request, out, () -> {
            pods.check(CniInvocation.parse(request, true));
            return CniResult.getDefaultInstance();
        });
    }

    @Override
    public void cmdGc(GcRequest request, StreamObserver<GcResponse> out) {
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
        out.onNext(response);
        out.onCompleted();
    }

    private static Attachment attachment(AttachmentGc.Known k) {
        return Attachment.newBuilder().setContainerId(k.id().containerId()).setIfname(k.id().ifName())
                .setPodNamespace(k.podNamespace()).setPodName(k.podName()).setIp(k.ip()).build();
    }

    @Override
    public void cmdDel(CniRequest request, StreamObserver<CniResponse> out) {
        answer("DEL", request, out, () -> {
            pods.del(CniInvocation.parse(request, false));
            return CniResult.getDefaultInstance();
        });
    }
}
