/*
 * Raw PKCS#11 signing loop, no porthos and no Python in the way (issue 5, docs/hsm.md
 * "Scaling"): N threads of one process, one session each, C_SignInit + C_Sign in a
 * loop for S seconds on the first private key of the token (a sensitive,
 * non-extractable key is generated in the token when there is none).
 *
 *   cc -O2 -o sign_loop benches/hsm/sign_loop.c -ldl -lpthread -I/usr/include/p11-kit-1
 *   SOFTHSM2_CONF=... ./sign_loop MODULE TOKEN PIN THREADS SECONDS RSA(0|1) COPY(0|1)
 *
 * COPY=1 signs with a per-session C_CopyObject(CKA_TOKEN=false) of the key (a session
 * object that stays inside the token; porthos's default). Prints signatures/s, CPU
 * per signature and voluntary context switches. On a shared machine run it under
 * `timeout 10 chrt -f 2` for near-quiet numbers: the workers drop to RT priority 1,
 * so the main thread can always wake and stop them. The PIN is an argument here
 * because this is a throwaway bench token; porthos never takes a PIN from argv.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR f;
static volatile int stop_flag;
static int rsa, secs;
static pthread_barrier_t bar;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

#define CK(x)                                                    \
    do {                                                         \
        CK_RV r_ = (x);                                          \
        if (r_ != CKR_OK) {                                      \
            fprintf(stderr, "%s: CKR 0x%lx\n", #x, (unsigned long)r_); \
            exit(1);                                             \
        }                                                        \
    } while (0)

typedef struct {
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE k;
    long count;
} Worker;

/* DigestInfo prefix for SHA-256 (RFC 8017 §9.2 note 1). */
static const CK_BYTE DI[19] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                               0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};

static void *work(void *arg) {
    Worker *w = arg;
    CK_BYTE data[51], sig[512];
    CK_ULONG len = 32;
    memset(data, 7, sizeof data);
    if (rsa) {
        memcpy(data, DI, 19);
        len = 51;
    }
    CK_MECHANISM m = {rsa ? CKM_RSA_PKCS : CKM_ECDSA, NULL, 0};
    if (sched_getscheduler(0) == SCHED_FIFO) {
        struct sched_param sp = {.sched_priority = 1};
        pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    }
    pthread_barrier_wait(&bar);
    double end = now() + secs + 0.5; /* never outlive the run, whatever the scheduler */
    while (!stop_flag) {
        if ((w->count & 255) == 0 && now() > end) break;
        CK_ULONG sl = sizeof sig;
        CK(f->C_SignInit(w->s, &m, w->k));
        CK(f->C_Sign(w->s, data, len, sig, &sl));
        w->count++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: %s MODULE TOKEN PIN THREADS SECONDS RSA COPY\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[4]), copy = atoi(argv[7]);
    secs = atoi(argv[5]);
    rsa = atoi(argv[6]);
    if (n < 1 || n > 64) return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
    CK(gfl(&f));
    CK_C_INITIALIZE_ARGS ia;
    memset(&ia, 0, sizeof ia);
    ia.flags = CKF_OS_LOCKING_OK; /* as porthos: without it SoftHSM2 has no locks */
    CK(f->C_Initialize(&ia));
    CK_SLOT_ID slots[64], slot = (CK_SLOT_ID)-1;
    CK_ULONG ns = 64;
    CK(f->C_GetSlotList(CK_TRUE, slots, &ns));
    for (CK_ULONG i = 0; i < ns; i++) {
        CK_TOKEN_INFO ti;
        char l[33];
        CK(f->C_GetTokenInfo(slots[i], &ti));
        memcpy(l, ti.label, 32);
        l[32] = 0;
        for (int j = 31; j >= 0 && l[j] == ' '; j--) l[j] = 0;
        if (!strcmp(l, argv[2])) slot = slots[i];
    }
    if (slot == (CK_SLOT_ID)-1) {
        fprintf(stderr, "no token labelled %s\n", argv[2]);
        return 1;
    }
    Worker ws[64];
    for (int i = 0; i < n; i++) {
        CK(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &ws[i].s));
        ws[i].count = 0;
    }
    CK_RV r = f->C_Login(ws[0].s, CKU_USER, (CK_UTF8CHAR_PTR)argv[3], strlen(argv[3]));
    if (r != CKR_OK && r != CKR_USER_ALREADY_LOGGED_IN) {
        fprintf(stderr, "C_Login: CKR 0x%lx\n", (unsigned long)r);
        return 1;
    }
    CK_OBJECT_CLASS pc = CKO_PRIVATE_KEY;
    CK_KEY_TYPE kt = rsa ? CKK_RSA : CKK_EC;
    CK_ATTRIBUTE ft[] = {{CKA_CLASS, &pc, sizeof pc}, {CKA_KEY_TYPE, &kt, sizeof kt}};
    CK_OBJECT_HANDLE key;
    CK_ULONG nf = 0;
    CK(f->C_FindObjectsInit(ws[0].s, ft, 2));
    CK(f->C_FindObjects(ws[0].s, &key, 1, &nf));
    CK(f->C_FindObjectsFinal(ws[0].s));
    if (!nf) {
        CK_BBOOL t = CK_TRUE, fa = CK_FALSE;
        CK_OBJECT_HANDLE pub;
        CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
        CK_ULONG bits = 2048;
        CK_BYTE e[] = {1, 0, 1};
        CK_ATTRIBUTE pub_ec[] = {{CKA_TOKEN, &t, 1}, {CKA_VERIFY, &t, 1},
                                 {CKA_EC_PARAMS, p256, sizeof p256}};
        CK_ATTRIBUTE pub_rsa[] = {{CKA_TOKEN, &t, 1}, {CKA_VERIFY, &t, 1},
                                  {CKA_MODULUS_BITS, &bits, sizeof bits},
                                  {CKA_PUBLIC_EXPONENT, e, 3}};
        CK_ATTRIBUTE prv[] = {{CKA_TOKEN, &t, 1}, {CKA_SIGN, &t, 1}, {CKA_SENSITIVE, &t, 1},
                              {CKA_EXTRACTABLE, &fa, 1}, {CKA_PRIVATE, &t, 1}};
        CK_MECHANISM gm = {rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0};
        CK(f->C_GenerateKeyPair(ws[0].s, &gm, rsa ? pub_rsa : pub_ec, rsa ? 4 : 3, prv, 5,
                                &pub, &key));
    }
    for (int i = 0; i < n; i++) {
        ws[i].k = key;
        if (copy) {
            CK_BBOOL fa = CK_FALSE;
            CK_ATTRIBUTE ct[] = {{CKA_TOKEN, &fa, 1}};
            CK(f->C_CopyObject(ws[i].s, key, ct, 1, &ws[i].k));
        }
    }
    pthread_barrier_init(&bar, NULL, n + 1);
    pthread_t th[64];
    for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, work, &ws[i]);
    pthread_barrier_wait(&bar);
    double t0 = now();
    struct timespec sl = {secs, 0};
    nanosleep(&sl, NULL);
    stop_flag = 1;
    long total = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        total += ws[i].count;
    }
    double dt = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    printf("threads=%d rsa=%d copy=%d: %.0f sig/s  cpu/sig %.1f us  cpu/wall %.2f  "
           "voluntary switches %ld\n",
           n, rsa, copy, total / dt, cpu * 1e6 / total, cpu / dt, ru.ru_nvcsw);
    f->C_Finalize(NULL);
    return 0;
}
