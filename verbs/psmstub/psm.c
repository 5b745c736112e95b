/*
 * A stand-in for libpsm_infinipath.so.1 (QLogic/Intel True Scale), loaded
 * by Ferry in place of the real library before it loads libfabric. See
 * stub.h for why.
 *
 * Every call fails with PSM_EP_NO_DEVICE, as the real library does on a
 * host without an InfiniPath device, so libfabric's psm provider reports
 * no device and goes unused.
 */
#include "stub.h"

#define PSM_EP_NO_DEVICE 21

STUB_FAIL(psm_init, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_finalize, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_error_register_handler, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_ep_num_devunits, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_ep_open, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_ep_open_opts_get_defaults, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_ep_close, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_ep_connect, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_ep_epid_lookup, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_am_get_parameters, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_am_register_handlers, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_am_request_short, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_am_reply_short, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_mq_init, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_mq_finalize, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_mq_cancel, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_mq_ipeek, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_mq_iprobe, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_mq_irecv, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_mq_isend, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_mq_send, PSM_EP_NO_DEVICE)
STUB_FAIL(psm_mq_test, PSM_EP_NO_DEVICE)

STUB_EXPORT void *psm_epaddr_getctxt(void) { return 0; }
STUB_EXPORT void psm_epaddr_setctxt(void) {}
STUB_EXPORT const char *psm_error_get_string(void) { return STUB_MESSAGE("libpsm_infinipath"); }
