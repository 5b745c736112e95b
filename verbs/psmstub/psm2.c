/*
 * A stand-in for libpsm2.so.2 (Omni-Path), loaded by Ferry in place of the
 * real library before it loads libfabric. See stub.h for why.
 *
 * Every call fails with PSM2_EP_NO_DEVICE, as the real library does on a
 * host without an hfi1 device, so libfabric's psm2 provider reports no
 * device and goes unused. Parameters are ignored (the x86-64 and aarch64
 * calling conventions let a callee ignore its arguments).
 */
#include "stub.h"

#define PSM2_EP_NO_DEVICE 21

STUB_FAIL(psm2_init, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_finalize, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_info_query, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_error_register_handler, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_ep_open, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_ep_open_opts_get_defaults, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_ep_close, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_ep_connect, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_ep_disconnect2, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_ep_epid_lookup2, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_epaddr_to_epid, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_poll, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_am_get_parameters, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_am_get_source, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_am_register_handlers_2, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_am_request_short, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_am_reply_short, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_mq_init, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_mq_cancel, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_mq_imrecv, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_mq_improbe2, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_mq_ipeek, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_mq_iprobe2, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_mq_irecv2, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_mq_isend2, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_mq_send2, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_mq_test2, PSM2_EP_NO_DEVICE)
STUB_FAIL(psm2_mq_wait2, PSM2_EP_NO_DEVICE)

/* No capabilities. */
STUB_EXPORT unsigned long long psm2_get_capability_mask(void) { return 0; }
STUB_EXPORT void *psm2_epaddr_getctxt(void) { return 0; }
STUB_EXPORT void psm2_epaddr_setctxt(void) {}
STUB_EXPORT const char *psm2_error_get_string(void) { return STUB_MESSAGE("libpsm2"); }
