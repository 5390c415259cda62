// SPDX-License-Identifier: GPL-2.0-only
//! 16550 UART driver for the serial console (`com1=`/`com2=`), on `uart_16550`.
//!
//! Xen programs the UART from the command line: baud (or `auto`: keep what
//! the boot loader set), data bits, parity, stop bits and I/O base. With
//! `com2H`/`com2L` the most significant bit of each byte selects which of two
//! users a byte belongs to; the caller applies that, this driver moves bytes.
use uart_16550::backend::PioBackend;
use uart_16550::spec::registers::{IER, Parity, WordLength};
use uart_16550::{BaudRate, Config, Uart16550};

/// The 16550's input clock divided by 16: the baud rate at divisor 1.
const UART_BASE_BAUD: u32 = 115_200;

/// Line settings for one UART.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SerialConfig {
    /// I/O port base (0x3f8 for COM1, 0x2f8 for COM2).
    pub io_base: u16,
    /// Baud rate; `None` keeps the divisor already programmed (`auto`).
    pub baud: Option<u32>,
    /// Data bits, 5..=8.
    pub data_bits: u8,
    /// Parity: b'n', b'o', b'e', b'm' (mark) or b's' (space).
    pub parity: u8,
    /// Stop bits, 1 or 2.
    pub stop_bits: u8,
}

impl SerialConfig {
    /// 115200 8n1 at `io_base`.
    #[must_use]
    pub const fn default_at(io_base: u16) -> Self {
        Self { io_base, baud: Some(UART_BASE_BAUD), data_bits: 8, parity: b'n', stop_bits: 1 }
    }
}

/// Why a UART could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerialError {
    /// Nothing answers at that I/O base.
    NotPresent,
    /// The baud rate cannot be produced by the UART's clock.
    BadBaud,
}

/// An initialised UART.
pub struct Serial {
    uart: Uart16550<PioBackend>,
    config: SerialConfig,
}

impl Serial {
    /// Program the UART at `config.io_base` with the given line settings.
    pub fn init(config: SerialConfig) -> Result<Self, SerialError> {
        // SAFETY: port I/O on a UART's 8 registers cannot violate memory
        // safety; the command line names the port and we probe it below.
        let mut uart =
            unsafe { Uart16550::new_port(config.io_base) }.map_err(|_| SerialError::NotPresent)?;
        if !uart.check_present() {
            return Err(SerialError::NotPresent);
        }
        let baud = match config.baud {
            Some(b) => b,
            None => {
                let (dll, dlm) = uart.dll_dlm();
                let divisor = u32::from(dll) | (u32::from(dlm) << 8);
                UART_BASE_BAUD.checked_div(divisor).unwrap_or(UART_BASE_BAUD)
            }
        };
        if baud == 0 || !UART_BASE_BAUD.is_multiple_of(baud) {
            return Err(SerialError::BadBaud);
        }
        let mut cfg = Config::DEFAULT;
        cfg.baud_rate = BaudRate::from_integer(baud);
        cfg.data_bits = match config.data_bits {
            5 => WordLength::FiveBits,
            6 => WordLength::SixBits,
            7 => WordLength::SevenBits,
            _ => WordLength::EightBits,
        };
        cfg.extra_stop_bits = config.stop_bits >= 2;
        cfg.parity = match config.parity {
            b'o' => Parity::Odd,
            b'e' => Parity::Even,
            b'm' => Parity::Forced1,
            b's' => Parity::Forced0,
            _ => Parity::Disabled,
        };
        uart.init(cfg).map_err(|e| match e {
            uart_16550::InitError::DeviceNotPresent => SerialError::NotPresent,
            _ => SerialError::BadBaud,
        })?;
        Ok(Self { uart, config: SerialConfig { baud: Some(baud), ..config } })
    }

    /// The settings in effect, with the baud rate read back from the divisor latch.
    #[must_use]
    pub fn effective(&mut self) -> SerialConfig {
        let (dll, dlm) = self.uart.dll_dlm();
        let divisor = u32::from(dll) | (u32::from(dlm) << 8);
        let baud = UART_BASE_BAUD.checked_div(divisor);
        SerialConfig { baud, ..self.config }
    }

    /// Send bytes, waiting for the transmitter as needed.
    pub fn write(&mut self, bytes: &[u8]) {
        self.uart.send_bytes_exact(bytes);
    }

    /// Enable the "received data available" interrupt (IER bit 0). OUT2 in
    /// the modem control register, which gates the UART's interrupt line on
    /// PC hardware, is already set by [`Serial::init`].
    pub fn enable_rx_interrupt(&mut self) {
        self.uart.enable_interrupts(IER::DATA_READY);
    }

    /// The I/O ports the UART occupies (`base..=base + 7`).
    #[must_use]
    pub fn io_ports(&self) -> (u16, u16) {
        (self.config.io_base, self.config.io_base.saturating_add(7))
    }

    /// Take one received byte, if any.
    pub fn try_read(&mut self) -> Option<u8> {
        self.uart.try_receive_byte().ok()
    }
}
