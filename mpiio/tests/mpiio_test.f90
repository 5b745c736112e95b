! mpiio_test.f90 TAG SCRATCH - libferry-mpiio from Fortran (run on 4 ranks).
!
! Each rank writes its blocks of a shared file through a vector file view
! (MPI_FILE_WRITE_ALL), once on "ferry:/mpiio-TAG.dat" and once on
! SCRATCH/mpiio-TAG.dat (the MPI library's own driver); both are read back
! in contiguous chunks (MPI_FILE_READ_AT_ALL) and rank 0 checks they hold
! the same bytes. MPI_FILE_GET_INFO must show the Ferry file is served by
! libferry-mpiio, and common mistakes must give the right error classes.
program mpiio_test
  implicit none
  include 'mpif.h'
  integer, parameter :: B = 3, NBLK = 8
  integer :: ierr, rank, np
  character(len=256) :: tag, scratch
  character(len=512) :: fer, loc, missing

  call MPI_INIT(ierr)
  call MPI_COMM_RANK(MPI_COMM_WORLD, rank, ierr)
  call MPI_COMM_SIZE(MPI_COMM_WORLD, np, ierr)
  call get_command_argument(1, tag)
  call get_command_argument(2, scratch)
  fer = 'ferry:/mpiio-' // trim(tag) // '.dat'
  loc = trim(scratch) // '/mpiio-' // trim(tag) // '.dat'
  missing = 'ferry:/mpiio-' // trim(tag) // '.missing'
  if (rank == 0) then
    call MPI_FILE_DELETE(fer, MPI_INFO_NULL, ierr)
    call MPI_FILE_DELETE(loc, MPI_INFO_NULL, ierr)
  end if
  call MPI_BARRIER(MPI_COMM_WORLD, ierr)

  call write_strided(fer)
  call write_strided(loc)
  call read_check(fer)
  call read_check(loc)
  call compare(fer, loc)
  call on_ferry(fer)
  call errors(fer, missing)

  call MPI_BARRIER(MPI_COMM_WORLD, ierr)
  if (rank == 0) then
    call MPI_FILE_DELETE(fer, MPI_INFO_NULL, ierr)
    call MPI_FILE_DELETE(loc, MPI_INFO_NULL, ierr)
    print '(a,a,a,i0,a)', 'mpiio_test ', trim(tag), ': OK (', np, ' ranks)'
  end if
  call MPI_FINALIZE(ierr)

contains

  integer function val(g)
    integer, intent(in) :: g
    val = g * 7 + 1
  end function

  subroutine check(ok, what)
    logical, intent(in) :: ok
    character(len=*), intent(in) :: what
    integer :: e
    if (.not. ok) then
      print '(a,i0,a,a)', '[', rank, '] CHECK failed: ', what
      call MPI_ABORT(MPI_COMM_WORLD, 1, e)
    end if
  end subroutine

  subroutine check_ok(rc, what)
    integer, intent(in) :: rc
    character(len=*), intent(in) :: what
    call check(rc == MPI_SUCCESS, what)
  end subroutine

  subroutine check_class(rc, want, what)
    integer, intent(in) :: rc, want
    character(len=*), intent(in) :: what
    integer :: cls, e
    call MPI_ERROR_CLASS(rc, cls, e)
    if (cls /= want) print '(a,a,i0,a,i0)', what, ': class ', cls, ' want ', want
    call check(cls == want, what)
  end subroutine

  subroutine write_strided(path)
    character(len=*), intent(in) :: path
    integer :: fh, ftype, k, j, e, cnt
    integer :: data(NBLK * B), status(MPI_STATUS_SIZE)
    integer(kind=MPI_OFFSET_KIND) :: disp
    call MPI_FILE_OPEN(MPI_COMM_WORLD, path, MPI_MODE_CREATE + MPI_MODE_WRONLY, MPI_INFO_NULL, fh, e)
    call check_ok(e, 'open for write')
    call MPI_TYPE_VECTOR(NBLK, B, B * np, MPI_INTEGER, ftype, e)
    call MPI_TYPE_COMMIT(ftype, e)
    disp = rank * B * 4
    call MPI_FILE_SET_VIEW(fh, disp, MPI_INTEGER, ftype, 'native', MPI_INFO_NULL, e)
    call check_ok(e, 'set_view')
    do k = 0, NBLK - 1
      do j = 0, B - 1
        data(k * B + j + 1) = val((k * np + rank) * B + j)
      end do
    end do
    call MPI_FILE_WRITE_ALL(fh, data, NBLK * B, MPI_INTEGER, status, e)
    call check_ok(e, 'write_all')
    call MPI_GET_COUNT(status, MPI_INTEGER, cnt, e)
    call check(cnt == NBLK * B, 'write_all count')
    call MPI_FILE_CLOSE(fh, e)
    call check_ok(e, 'close')
    call check(fh == MPI_FILE_NULL, 'MPI_FILE_NULL after close')
    call MPI_TYPE_FREE(ftype, e)
  end subroutine

  subroutine read_check(path)
    character(len=*), intent(in) :: path
    integer :: fh, e, i, per
    integer :: buf(NBLK * B), status(MPI_STATUS_SIZE)
    integer(kind=MPI_OFFSET_KIND) :: off, size
    per = NBLK * B
    call MPI_FILE_OPEN(MPI_COMM_WORLD, path, MPI_MODE_RDONLY, MPI_INFO_NULL, fh, e)
    call check_ok(e, 'open for read')
    call MPI_FILE_GET_SIZE(fh, size, e)
    call check(size == np * per * 4, 'size')
    off = rank * per * 4
    call MPI_FILE_READ_AT_ALL(fh, off, buf, per, MPI_INTEGER, status, e)
    call check_ok(e, 'read_at_all')
    do i = 1, per
      call check(buf(i) == val(rank * per + i - 1), 'data read back')
    end do
    call MPI_FILE_CLOSE(fh, e)
  end subroutine

  subroutine compare(a, b2)
    character(len=*), intent(in) :: a, b2
    integer :: fa, fb, e, n
    integer(kind=MPI_OFFSET_KIND) :: sa, sb, zero
    integer, allocatable :: xa(:), xb(:)
    integer :: status(MPI_STATUS_SIZE)
    if (rank /= 0) return
    zero = 0
    call MPI_FILE_OPEN(MPI_COMM_SELF, a, MPI_MODE_RDONLY, MPI_INFO_NULL, fa, e)
    call MPI_FILE_OPEN(MPI_COMM_SELF, b2, MPI_MODE_RDONLY, MPI_INFO_NULL, fb, e)
    call MPI_FILE_GET_SIZE(fa, sa, e)
    call MPI_FILE_GET_SIZE(fb, sb, e)
    call check(sa == sb, 'sizes equal')
    n = int(sa / 4)
    allocate(xa(n), xb(n))
    call MPI_FILE_READ_AT(fa, zero, xa, n, MPI_INTEGER, status, e)
    call MPI_FILE_READ_AT(fb, zero, xb, n, MPI_INTEGER, status, e)
    call check(all(xa == xb), 'Ferry and local files hold the same bytes')
    call MPI_FILE_CLOSE(fa, e)
    call MPI_FILE_CLOSE(fb, e)
  end subroutine

  subroutine on_ferry(path)
    character(len=*), intent(in) :: path
    integer :: fh, info, e
    logical :: flag
    character(len=256) :: v
    call MPI_FILE_OPEN(MPI_COMM_WORLD, path, MPI_MODE_RDONLY, MPI_INFO_NULL, fh, e)
    call MPI_FILE_GET_INFO(fh, info, e)
    call MPI_INFO_GET(info, 'ferry_path', 255, v, flag, e)
    call check(flag, 'file served by libferry-mpiio (ferry_path info key)')
    call MPI_INFO_FREE(info, e)
    call MPI_FILE_CLOSE(fh, e)
  end subroutine

  subroutine errors(path, miss)
    character(len=*), intent(in) :: path, miss
    integer :: fh, e, x(1)
    integer :: status(MPI_STATUS_SIZE)
    integer(kind=MPI_OFFSET_KIND) :: zero
    zero = 0
    call MPI_FILE_OPEN(MPI_COMM_WORLD, miss, MPI_MODE_RDONLY, MPI_INFO_NULL, fh, e)
    call check_class(e, MPI_ERR_NO_SUCH_FILE, 'open missing')
    call MPI_FILE_OPEN(MPI_COMM_WORLD, path, MPI_MODE_CREATE + MPI_MODE_EXCL + MPI_MODE_WRONLY, &
                       MPI_INFO_NULL, fh, e)
    call check_class(e, MPI_ERR_FILE_EXISTS, 'open EXCL existing')
    call MPI_FILE_OPEN(MPI_COMM_WORLD, path, MPI_MODE_WRONLY, MPI_INFO_NULL, fh, e)
    call check_ok(e, 'open write-only')
    call MPI_FILE_READ_AT(fh, zero, x, 1, MPI_INTEGER, status, e)
    call check_class(e, MPI_ERR_ACCESS, 'read on write-only')
    call MPI_FILE_CLOSE(fh, e)
  end subroutine

end program
