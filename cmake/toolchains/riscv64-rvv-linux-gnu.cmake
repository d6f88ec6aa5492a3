# riscv64-rvv-linux-gnu.cmake — RV64GCV (vector 1.0) Linux, with Debian's gcc-riscv64-linux-gnu.
# Programs run under qemu-riscv64 with the vector unit enabled (VLEN 128).
include(${CMAKE_CURRENT_LIST_DIR}/riscv64-linux-gnu.cmake)
set(CMAKE_SYSTEM_PROCESSOR rv64gcv)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-riscv64;-cpu;rv64,v=true,vlen=128;-L;/usr/riscv64-linux-gnu)
